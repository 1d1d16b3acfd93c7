"""What every sub-benchmark is given: the server, how many runs, whether to draw bars,
and whether the server is a Citus coordinator (``--citus P``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rhythm.bench.noop import write_flows


@dataclass(frozen=True)
class BenchContext:
    server_url: str  # any database on the server; each run creates its own next to it
    runs: int = 3
    progress: bool = True
    # With P: server_url is a Citus coordinator's database distributed over P partitions,
    # which every run uses itself, emptied first (rhythm.bench.citus).
    citus_partitions: int | None = None

    @property
    def partitions(self) -> int:
        """P of the database each run uses (a fresh database has 1)."""
        return self.citus_partitions or 1


@contextmanager
def flows_folder() -> Iterator[Path]:
    """A temporary folder holding the benchmark flows (compiled by each worker)."""
    with tempfile.TemporaryDirectory(prefix="rhythm-bench-flows-") as folder:
        yield write_flows(Path(folder))
