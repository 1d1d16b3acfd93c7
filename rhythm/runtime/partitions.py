"""Which partition an execution lives in, and how many there are.

Every runtime row carries ``part`` (migration 0008): the partition of its workflow tree.
The number of partitions P is fixed when the database is set up (``rhythm migrate
--partitions P``, kept in ``rhythm.installation``); on plain Postgres it is 1 and every
row is in partition 0. On Citus, tables are distributed by ``part``, so that every
statement about one tree runs on one shard (docs/scaling.md).

The partition is a pure function of the execution id, so that anyone holding an id -
a client, the CLI, another language's worker - finds its rows without a lookup:

* an id the runtime generated (``t-`` or ``w-`` and 32 hex digits) names its partition in
  its first four hex digits (their value modulo P); the runtime generates the ids of a
  workflow's tasks and children in the workflow's own partition, so a tree never spans
  two partitions and no commit is two-phase;
* any other id (one a user chose for a root execution) is placed by CRC-32 of its UTF-8
  bytes, modulo P;
* a task with an idempotency key lives in the partition of its key (whoever asked for
  it, even a workflow of another partition), so that one unique index per partition
  means one execution per key: :func:`keyed_id` generates its id with the low 16 bits of
  CRC-32 of ``name NUL key`` as its first four hex digits, so the rule above finds it
  from the id alone, whatever P is.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from typing import Any

_GENERATED = re.compile(r"[tw]-([0-9a-f]{4})[0-9a-f]{28}")


def part_of(execution_id: str, partitions: int) -> int:
    """The partition of ``execution_id`` among ``partitions``."""
    if partitions == 1:
        return 0
    generated = _GENERATED.fullmatch(execution_id)
    if generated is not None:
        return int(generated.group(1), 16) % partitions
    return zlib.crc32(execution_id.encode("utf-8", "surrogatepass")) % partitions


def generated_id(prefix: str, part: int, partitions: int) -> str:
    """A fresh random id (128 random bits, as uuid4 has) that :func:`part_of` puts in
    ``part``: its first four hex digits are drawn among the values that say ``part``."""
    lead = int.from_bytes(os.urandom(2), "big")
    if partitions > 1:
        lead = lead - lead % partitions + part
        if lead > 0xFFFF:
            lead -= partitions
    return f"{prefix}-{lead:04x}{os.urandom(14).hex()}"


def keyed_id(name: str, key: str) -> str:
    """A fresh id for task ``name`` with idempotency ``key``, in the key's partition
    (the same for every request of that key, for any P)."""
    text = f"{name}\x00{key}".encode("utf-8", "surrogatepass")
    return f"t-{zlib.crc32(text) & 0xFFFF:04x}{os.urandom(14).hex()}"


@dataclass(frozen=True)
class Topology:
    """How the database is laid out: P, and whether it is a Citus cluster."""

    partitions: int = 1
    citus: bool = False

    @property
    def notify_in_sql(self) -> bool:
        """Statements send their own notifications (plain Postgres). On Citus a statement
        routed to a shard would send them on a worker node, where nobody listens: the
        application sends them through the coordinator (:mod:`rhythm.runtime.notices`)."""
        return not self.citus

    def part_of(self, execution_id: str) -> int:
        return part_of(execution_id, self.partitions)

    def all_parts(self) -> range:
        return range(self.partitions)

    @classmethod
    def from_row(cls, row: Any) -> Topology:
        return cls(partitions=int(row[0]), citus=bool(row[1])) if row else cls()


PLAIN = Topology()
"""One partition, plain Postgres (every database before ``rhythm migrate --partitions``)."""
