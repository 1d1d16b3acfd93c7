"""Which errors an activation or a task run survives (it runs again after its lease)
instead of failing its execution as an internal error."""

from __future__ import annotations

import psycopg

from rhythm.runtime.worker import transient


def test_a_citus_node_out_of_reach_is_transient_another_internal_error_is_not() -> None:
    assert transient(psycopg.errors.InternalError_(
        "failure on connection marked as essential: /tmp/citus-main:9701"))
    assert transient(psycopg.errors.InternalError_(
        "connection to the remote node postgres@localhost:9702 failed with the following "
        "error: Connection refused"))
    # A node restarted mid-statement: what the Citus chaos test's workers logged as
    # "internal error activating chaos-N; failing it" before this was transient.
    assert transient(psycopg.errors.InternalError_(
        "terminating connection due to administrator command"))
    # ... or as the coordinator's connection to it closing (the chaos test's assertion
    # on "internal error" lines met it in CI, seed 634532100).
    assert transient(psycopg.errors.InternalError_(
        "server closed the connection unexpectedly\n\tThis probably means the server "
        "terminated abnormally\n\tbefore or while processing the request.\n"
        "CONTEXT:  while executing command on /tmp/citus-gw0:9701"))
    assert not transient(psycopg.errors.InternalError_("could not find the plan"))
    assert not transient(ValueError("failure on connection marked as essential"))


def test_connection_losses_and_lock_conflicts_are_transient() -> None:
    assert transient(psycopg.OperationalError("server closed the connection"))
    assert transient(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not transient(psycopg.errors.UniqueViolation("duplicate key"))
