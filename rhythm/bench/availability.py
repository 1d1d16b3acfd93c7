"""Whether the runtime can run workflows on Postgres yet (else: exit 2, "not built yet")."""

from __future__ import annotations

import importlib.util

from rhythm.errors import NotBuiltYet
from rhythm.store.migrations import discover


def workflows_missing() -> str | None:
    """Why workflow benchmarks cannot run, or None when they can."""
    if importlib.util.find_spec("rhythm.runtime.activation") is None:
        return "workflow activations on Postgres (rhythm.runtime.activation)"
    from rhythm.runtime.worker import Worker

    if "versions" not in Worker.__init__.__code__.co_varnames:
        return "a worker that runs workflow versions"
    if not any("workflow" in m.path.name for m in discover()):
        return "the workflow migration"
    return None


def require_workflows(benchmark: str) -> None:
    missing = workflows_missing()
    if missing is not None:
        raise NotBuiltYet(
            f"'rhythm bench {benchmark}' is not built yet: the runtime lacks {missing}")
