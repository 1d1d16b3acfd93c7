"""Stable identities of awaits, the key ``rhythm upgrade`` maps suspended executions by.

An await's identity says *what* it waits for and *where* it sits in the control structure,
never its line or state label, so that unrelated edits (a line added above, a variable
renamed, an await added elsewhere) leave it unchanged. It reads like a path::

    while#1/if#1/then/Task.run:ship_order#1

- each control statement that encloses the await adds ``kind#n`` (kinds ``if``, ``while``,
  ``do``, ``for``, ``for-of``, ``for-in``, ``try``): ``n`` counts the statements of that
  kind among its siblings, with or without awaits (so an await added to an earlier one
  shifts nothing; a new statement of the *same kind* added before it does); an ``if``
  adds ``then``/``else``, a ``try`` adds ``body``/``catch``/``finally`` for the part the
  await is in; arrows open a scope of their own;
- the last segment describes the await (:func:`describe`) and counts the awaits with the
  same description in the same place (``#2`` for the second ``Task.run("charge")``);
- ``return p`` of a promise is ``return#n``.

An author can pin an identity with a comment on the line just before the await:
``// @await charge`` makes it ``@charge`` (unique in the workflow).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rhythm.frontend import ast as A

_LABEL = re.compile(r"^//\s*@await\s+([A-Za-z_][A-Za-z0-9_.:-]*)\s*$")
_EFFECT_NAMESPACES = frozenset({"Task", "Workflow", "Signal", "Timer", "Promise"})
_NAMED = frozenset({"Task", "Workflow", "Signal"})  # their first argument names the target


def describe(operand: Any) -> str:
    """What an await waits for: ``Task.run:charge``, ``Signal.next:approval``,
    ``Promise.race[Signal.next:approval,Timer.delay]``, ``await:payment`` for a variable."""
    if isinstance(operand, A.Call) and isinstance(operand.callee, A.Member):
        callee = operand.callee
        if isinstance(callee.object, A.Name) and callee.object.id in _EFFECT_NAMESPACES:
            head = f"{callee.object.id}.{callee.property}"
            if callee.object.id == "Promise":
                return head + _members(operand.args)
            if (callee.object.id in _NAMED and operand.args
                    and isinstance(operand.args[0], A.StringLit)):
                return f"{head}:{operand.args[0].value}"
            return head
        return f"call:{callee.property}"
    if isinstance(operand, A.Name):
        return f"await:{operand.id}"
    return "await:" + type(operand).__name__.lower()


def _members(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], A.ArrayLit):
        return "[" + ",".join(describe(e) if isinstance(e, A.Call) else "_"
                              for e in args[0].elements) + "]"
    if len(args) == 1 and isinstance(args[0], A.ObjectLit):
        keys = [p.key if isinstance(p.key, str) else "_" for p in args[0].props]
        return "{" + ",".join(keys) + "}"
    return "(_)"


class IdentityError(Exception):
    """An explicit label is used twice (reported as a compile error at ``line``)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class AwaitIdentities:
    """The path stack and counters of one lowering, fed in source order."""

    def __init__(self, source_lines: list[str]) -> None:
        self.source_lines = source_lines
        self.path: list[str] = []
        self._counts: dict[tuple[tuple[str, ...], str], int] = {}
        self._labels: set[str] = set()

    def _next(self, what: str) -> int:
        key = (tuple(self.path), what)
        self._counts[key] = self._counts.get(key, 0) + 1
        return self._counts[key]

    @contextmanager
    def structure(self, kind: str) -> Iterator[None]:
        """Inside a control statement of ``kind`` (``while``, ``if``...), awaits or not."""
        segment = f"{kind}#{self._next(kind)}"
        with self.part(segment):
            yield

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        """Inside one part of the current structure (``then``, ``catch``...)."""
        self.path.append(name)
        try:
            yield
        finally:
            self.path.pop()

    def of_await(self, operand: Any, line: int) -> str:
        return self._identity(describe(operand), line)

    def of_return(self, line: int) -> str:
        return self._identity("return", line)

    def _identity(self, what: str, line: int) -> str:
        explicit = self._explicit(line)
        ordinal = self._next(what)  # counted even when labelled: the others must not shift
        if explicit is not None:
            if explicit in self._labels:
                raise IdentityError(line, f"await label '{explicit}' is used twice")
            self._labels.add(explicit)
            return "@" + explicit
        return "/".join([*self.path, f"{what}#{ordinal}"])

    def _explicit(self, line: int) -> str | None:
        if not 2 <= line <= len(self.source_lines) + 1:
            return None
        match = _LABEL.match(self.source_lines[line - 2].strip())
        return match.group(1) if match else None
