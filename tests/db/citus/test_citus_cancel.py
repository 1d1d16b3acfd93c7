"""Cancellation with compensation on Citus: the tests of ``test_cancel_compensation.py``
(the refund task's row in task_log exactly once, what started before the cancel is
cancelled, a second cancel does not stop the compensation), on the coordinator."""

from __future__ import annotations

from test_cancel_compensation import (
    saga_worker,
    test_a_second_cancel_does_not_stop_the_compensation,
    test_catch_refunds_after_cancel,
    test_finally_with_a_timer_refunds_and_what_started_before_is_cancelled,
)

__all__ = [
    "saga_worker",
    "test_a_second_cancel_does_not_stop_the_compensation",
    "test_catch_refunds_after_cancel",
    "test_finally_with_a_timer_refunds_and_what_started_before_is_cancelled",
]
