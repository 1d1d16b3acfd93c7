"""Tasks for the observability tests (imported by worker processes: ``-m observe_tasks``)."""

from __future__ import annotations

import logging

import rhythm

log = logging.getLogger("observe_tasks")


@rhythm.task
def chatty(word: str) -> str:
    log.info("said %s", word)
    return word
