"""A progress bar on stderr (click's), hidden when stderr is not a terminal or when off."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import click


class Progress(Protocol):
    def update(self, n_steps: int, current_item: Any = None) -> None: ...


class _Silent:
    def update(self, n_steps: int, current_item: Any = None) -> None:
        return None


@contextmanager
def progress_bar(length: int, label: str, enabled: bool = True) -> Iterator[Progress]:
    """A bar of ``length`` steps; ``enabled=False`` (``--no-progress``) draws nothing."""
    if not enabled:
        yield _Silent()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, width=30,
                           show_pos=True) as bar:
        yield bar


class Counter:
    """Advances a bar to an absolute position (drains report totals, not increments)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.done = 0

    def to(self, position: int) -> None:
        if position > self.done:
            self.bar.update(position - self.done)
            self.done = position
