"""Where an upgrade records its history entry: ``rhythm.observe.history.record_entry``
(the history contract, issue 20). Until that package is merged, a stand-in records
nothing; once it is, the real function is used (this module then only re-exports it)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import Any


def _absent(conn: Any, execution_id: str, kind: str, detail: dict[str, Any], *,
            at: datetime, worker: str | None = None) -> int:
    return 0


try:
    record_entry: Callable[..., int] = importlib.import_module(
        "rhythm.observe.history").record_entry
    RECORDING = True
except ImportError:  # history (issue 20) not merged yet: an upgrade records no entry
    record_entry = _absent
    RECORDING = False

__all__ = ["RECORDING", "record_entry"]
