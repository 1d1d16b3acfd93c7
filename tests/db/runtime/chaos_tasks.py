"""The one task the chaos test needs beyond ``sample_tasks``: a non-transactional effect
outside the database (a line appended to a file), which may happen more than once."""

from __future__ import annotations

import rhythm


@rhythm.task
def append_mark(path: str, key: str) -> str:
    """At-least-once effect: a killed worker's attempt may have written before it died."""
    with open(path, "a", encoding="utf-8") as marks:
        marks.write(key + "\n")
    return key

