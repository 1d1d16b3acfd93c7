"""The language conformance cases through the real engine on Citus: the very test of
``test_conformance_pg.py`` (each case on a worker, compared strictly with the in-memory
run), with ``db_url`` the Citus coordinator (see this folder's conftest)."""

from __future__ import annotations

from test_conformance_pg import case_worker as case_worker
from test_conformance_pg import clock as clock
from test_conformance_pg import test_case_through_postgres as test_case_through_citus

__all__ = ["case_worker", "clock", "test_case_through_citus"]
