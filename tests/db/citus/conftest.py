"""The Citus tier runs the runtime tests' own code on a Citus coordinator.

Here ``db_url`` is the coordinator's database (``citus_url``: migrated, distributed over
4 partitions, its runtime tables emptied before each test), so a runtime test or fixture
imported into a ``test_citus_*.py`` module runs unchanged on Citus.

Runtime test modules import their helpers with ``from conftest import ...``, which finds
whichever conftest pytest loaded last: this one, in this folder. So this module loads the
runtime conftest (under its own name) and offers its helpers and fixtures again.
"""

from __future__ import annotations

import pytest
from runtimeloader import load_runtime_conftest

load_runtime_conftest()

from runtime_conftest import (  # noqa: E402  (loaded just above)
    HERE,
    REPO,
    client,
    flows_worker,
    one_row,
    register_flow,
    running_worker,
    spawn_worker,
    stop_workers,
    task_log,
    wait_for,
    worker,
)
from uifixtures import ui  # noqa: E402  (the dashboard, for test_citus_ui.py)

__all__ = ["HERE", "REPO", "client", "db_url", "flows_worker", "one_row", "register_flow",
           "running_worker", "spawn_worker", "stop_workers", "task_log", "ui", "wait_for",
           "worker"]


@pytest.fixture
def db_url(citus_url: str) -> str:
    return citus_url
