"""Builds the states of a machine: labels, jumps, indentation and the live-key stack.

The lowering code talks to an :class:`Emitter` the way regenerator's emitter works: it
allocates labels, *places* them (ending the current state with a jump to it), emits
Python lines at the current indentation, and keeps track of what is live: every key
pushed with :meth:`hold` is saved in snapshots taken at a resume point created while it
is held.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from rhythm.compiler.model import State

INDENT = "    "
_LABEL_REF = re.compile("\x00(\\d+)\x00")


class Emitter:
    def __init__(self) -> None:
        self.states: list[State] = []
        self._pending: dict[int, tuple[str, int]] = {}  # allocated, not yet placed
        self._next_label = 0
        self.current: State | None = None
        self.depth = 0  # Python indentation inside the current state method
        self.handler: tuple[int, str | None] | None = None
        self._held: list[str] = []
        self._counter = 0
        self.flow_line = 1
        self._dead = False

    # ------------------------------------------------------------------ labels

    def new_label(self, hint: str) -> int:
        label = self._next_label
        self._next_label += 1
        self._pending[label] = (hint, self.flow_line)
        return label

    def place(self, label: int, resume: bool = False) -> None:
        """End the current state (falling through to ``label``) and start state ``label``."""
        if self.current is not None and not self.terminated:
            self.jump(label)
        self.current = self._new_state(label, resume)
        self.depth = 0
        self._dead = False

    def side_state(self, label: int, lines: list[str]) -> State:
        """Add resume state ``label`` made of ``lines`` without leaving the current state."""
        state = self._new_state(label, True)
        state.lines.extend(lines)
        return state

    def _new_state(self, label: int, resume: bool) -> State:
        hint, _ = self._pending.pop(label)
        state = State(label, hint, self.flow_line, self.handler)
        if resume:
            state.live = tuple(dict.fromkeys(self._held))
        self.states.append(state)
        return state

    @staticmethod
    def ref(label: int) -> str:
        """A label as it appears in code until :meth:`finish` numbers states in order.

        NUL never survives ``repr()``, so no string literal of user text can contain it.
        """
        return f"\x00{label}\x00"

    def finish(self) -> list[State]:
        """The states numbered in the order they were placed (label i = the i-th state)."""
        numbering = {state.label: index for index, state in enumerate(self.states)}

        def renumber(text: str) -> str:
            return _LABEL_REF.sub(lambda m: str(numbering[int(m.group(1))]), text)

        for state in self.states:
            state.label = numbering[state.label]
            state.lines = [renumber(line) for line in state.lines]
            if state.handler is not None:
                target, slot = state.handler
                state.handler = (numbering[target], slot)
        self.states.sort(key=lambda state: state.label)
        return self.states

    def start(self) -> None:
        self.place(self.new_label("start"))

    @property
    def terminated(self) -> bool:
        """True when the state already left at method level (what follows is unreachable)."""
        return self._dead

    # ------------------------------------------------------------------- lines

    def line(self, text: str) -> None:
        assert self.current is not None
        if self._dead:
            return  # unreachable: the state already left at method level
        self.current.lines.append(INDENT * self.depth + text)
        if self.depth == 0 and (text.startswith("return ") or text.startswith("raise ")):
            self._dead = True

    def comment(self, text: str) -> None:
        self.line(f"# {text}")

    @contextmanager
    def indented(self, header: str) -> Iterator[None]:
        self.line(header)
        self.depth += 1
        start = len(self.current.lines) if self.current else 0
        try:
            yield
        finally:
            if self.current is not None and len(self.current.lines) == start and not self._dead:
                self.line("pass")
            self.depth -= 1

    def jump(self, label: int) -> None:
        self.line(f"return {self.ref(label)}")

    # ---------------------------------------------------------- names and keys

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def temp(self) -> str:
        """A new temporary key in the variables dict, live until its hold scope ends."""
        key = self.fresh("#t")
        self._held.append(key)
        return key

    @contextmanager
    def holding(self, *keys: str) -> Iterator[None]:
        """Keep ``keys`` (and any temporaries made meanwhile) live until the block ends."""
        mark = len(self._held)
        self._held.extend(keys)
        try:
            yield
        finally:
            del self._held[mark:]

    @contextmanager
    def region(self, handler: tuple[int, str | None] | None) -> Iterator[None]:
        """States placed inside route a throw to ``handler``."""
        saved = self.handler
        self.handler = handler
        try:
            yield
        finally:
            self.handler = saved

    @property
    def in_native(self) -> bool:
        """True while emitting inside a Python block (loop, try, if, def) of one state."""
        return self.depth > 0
