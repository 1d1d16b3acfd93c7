"""Rhythm: durable workflows for Python teams.

The package root stays light on purpose: generated workflow modules import
``rhythm.flowrt`` and a worker imports ``rhythm.runtime``, and neither should pay
for (or require) the build toolchain or the database driver. Public names are
resolved lazily on first use (PEP 562).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_LAZY = {
    "task": "rhythm.runtime.tasks:task",
    "current_task": "rhythm.runtime.context:current_task",
    "TaskContext": "rhythm.runtime.context:TaskContext",
    "Client": "rhythm.runtime.client:Client",
    "AsyncClient": "rhythm.runtime.client:AsyncClient",
    "WorkflowFailed": "rhythm.errors:WorkflowFailed",
    "RhythmError": "rhythm.errors:RhythmError",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'rhythm' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
