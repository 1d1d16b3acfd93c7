"""What every sub-benchmark is given: the server, how many runs, whether to draw bars."""

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


@contextmanager
def flows_folder() -> Iterator[Path]:
    """A temporary folder holding the benchmark flows (compiled by each worker)."""
    with tempfile.TemporaryDirectory(prefix="rhythm-bench-flows-") as folder:
        yield write_flows(Path(folder))
