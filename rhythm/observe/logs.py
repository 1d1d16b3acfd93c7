"""Worker and command logs as text or JSON lines (``--log-format json|text``).

A JSON line is one object: ``time`` (ISO 8601, UTC), ``level``, ``message``, ``logger``,
and where known ``execution_id``, ``workflow`` or ``task``, and ``attempt``: from the
context the worker sets around each activation and task attempt
(rhythm.observe.telemetry.LOG_FIELDS), or, on a sync task's own thread (which does not
inherit that context), from the running task (``rhythm.current_task()``'s variable).
An exception's traceback is one more field, ``exception``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from rhythm.observe.telemetry import LOG_FIELDS

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _task_fields() -> dict[str, Any] | None:
    from rhythm.runtime.context import _CURRENT

    current = _CURRENT.get()
    if current is None:
        return None
    claim = current[0]
    return {"execution_id": claim.id, "task": claim.name, "attempt": claim.attempt}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
        }
        fields = LOG_FIELDS.get() or _task_fields()
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send the process's logs to stderr in ``log_format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
