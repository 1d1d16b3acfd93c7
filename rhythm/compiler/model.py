"""The state-machine model that lowering produces and code generation renders.

A workflow becomes a list of *states*. A state is a label (its index), a method body of
Python lines (already indented relative to the method, four spaces a level) that ends by
returning the next label, the handler that catches a throw raised inside it, and — for the
states that a suspension resumes — the variables that must survive in a snapshot, the
await's stable identity and the variables bound before it (what ``rhythm upgrade`` maps).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class State:
    label: int
    hint: str  # a short description used in the method name, e.g. "after_charge_card"
    flow_line: int  # the .flow line where this state starts
    handler: tuple[int, str | None] | None  # (target label, completion slot or None for catch)
    lines: list[str] = field(default_factory=list)
    live: tuple[str, ...] | None = None  # set for resume points only
    identity: str | None = None  # resume points: the await's stable identity (identity.py)
    needs: tuple[str, ...] | None = None  # resume points: live keys bound before the await


@dataclass
class MachineModel:
    name: str
    version: str
    source_path: str
    states: list[State]

    @property
    def lines(self) -> dict[int, int]:
        return {state.label: state.flow_line for state in self.states}

    @property
    def live(self) -> dict[int, tuple[str, ...]]:
        return {s.label: s.live for s in self.states if s.live is not None}

    @property
    def awaits(self) -> dict[int, str]:
        return {s.label: s.identity for s in self.states if s.identity is not None}

    @property
    def needs(self) -> dict[int, tuple[str, ...]]:
        return {s.label: s.needs for s in self.states if s.needs is not None}

    @property
    def handlers(self) -> dict[int, tuple[int, str | None]]:
        return {s.label: s.handler for s in self.states if s.handler is not None}
