"""Schedules on Citus (rhythm.schedules a reference table; the executions a firing
starts distributed by partition, in the same transaction): the tests of
``test_schedules.py`` that fire, on the coordinator."""

from __future__ import annotations

from test_schedules import (
    test_an_outage_of_four_ticks_starts_none_one_or_all_of_them,
    test_python_api_and_a_workflow_gets_its_tick_in_its_inputs,
    test_three_workers_start_exactly_one_execution_per_tick,
)

__all__ = [
    "test_an_outage_of_four_ticks_starts_none_one_or_all_of_them",
    "test_python_api_and_a_workflow_gets_its_tick_in_its_inputs",
    "test_three_workers_start_exactly_one_execution_per_tick",
]
