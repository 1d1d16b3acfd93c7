"""The Citus tier runs the runtime tests' own code on a Citus coordinator.

Here ``db_url`` is the coordinator's database (``citus_url``: migrated, distributed over
4 partitions, its runtime tables emptied before each test), so a runtime test or fixture
imported into a ``test_citus_*.py`` module runs unchanged on Citus.

Runtime test modules import their helpers with ``from conftest import ...``, which finds
whichever conftest pytest loaded last: this one, in this folder. So this module loads the
runtime conftest (under its own name) and offers its helpers and fixtures again.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"


def _load_runtime_conftest() -> object:
    name = "runtime_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNTIME / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # puts the runtime folder on sys.path
    return sys.modules[name]


_load_runtime_conftest()

from runtime_conftest import (  # noqa: E402  (loaded just above)
    HERE,
    REPO,
    client,
    flows_worker,
    one_row,
    running_worker,
    spawn_worker,
    stop_workers,
    task_log,
    wait_for,
    worker,
)

__all__ = ["HERE", "REPO", "client", "db_url", "flows_worker", "one_row", "running_worker",
           "spawn_worker", "stop_workers", "task_log", "wait_for", "worker"]


@pytest.fixture
def db_url(citus_url: str) -> str:
    return citus_url
