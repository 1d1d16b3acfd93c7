"""Which partition an id lives in (rhythm.runtime.partitions)."""

from __future__ import annotations

import zlib

import pytest

from rhythm.runtime.partitions import generated_id, part_of


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 7, 32, 4096])
def test_generated_ids_land_in_the_partition_asked_for(partitions: int) -> None:
    for part in {0, partitions // 2, partitions - 1}:
        for _ in range(200):
            execution_id = generated_id("t", part, partitions)
            assert part_of(execution_id, partitions) == part
            assert len(execution_id) == 34 and execution_id.startswith("t-")


def test_a_chosen_id_is_placed_by_crc32_of_its_utf8_bytes() -> None:
    assert part_of("order-o-1", 32) == zlib.crc32(b"order-o-1") % 32
    assert part_of("commande-é", 5) == zlib.crc32("commande-é".encode()) % 5
    assert part_of("anything", 1) == 0


def test_ids_that_only_look_generated_are_placed_by_crc32() -> None:
    assert part_of("t-XYZ", 8) == zlib.crc32(b"t-XYZ") % 8
    upper = "t-" + "A" * 32  # (generated ids are lower-case hex)
    assert part_of(upper, 8) == zlib.crc32(upper.encode()) % 8


def test_generated_ids_are_random_and_spread() -> None:
    ids = {generated_id("w", 0, 1) for _ in range(1000)}
    assert len(ids) == 1000
    assert len({part_of(i, 4) for i in ids}) == 4
