"""The typed view model the Jinja templates read: every string is ready to print.

Templates contain no logic beyond loops; all quoting (``repr``), naming and formatting
decisions are made here, so a template cannot put user text outside a string literal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rhythm.compiler import MachineModel, State


@dataclass(frozen=True)
class StateView:
    method: str
    body: list[str]


@dataclass(frozen=True)
class ModuleView:
    compiler_version: str
    source_label: str  # printable ASCII file path for the header comment
    version: str
    name_literal: str
    version_literal: str
    path_literal: str
    compiler_version_literal: str
    line_table: list[str]
    handlers: list[str]
    live: list[str]
    awaits: list[str]
    needs: list[str]
    states: list[StateView]


def method_name(state: State) -> str:
    """``_s3_after_charge_card``: the label, then the hint reduced to ``[a-z0-9_]``."""
    hint = re.sub(r"[^a-z0-9]+", "_", state.hint.lower()).strip("_")[:32].rstrip("_")
    return f"_s{state.label}_{hint}" if hint else f"_s{state.label}"


def module_view(model: MachineModel, compiler_version: str) -> ModuleView:
    states = [StateView(method_name(s), s.lines) for s in model.states]
    return ModuleView(
        compiler_version=_printable(compiler_version),
        source_label=_printable(model.source_path),
        version=_printable(model.version),
        name_literal=repr(model.name),
        version_literal=repr(model.version),
        path_literal=repr(model.source_path),
        compiler_version_literal=repr(compiler_version),
        line_table=[f"{label}: {line}" for label, line in model.lines.items()],
        handlers=[f"{label}: {target!r}" for label, target in model.handlers.items()],
        live=[f"{label}: {keys!r}" for label, keys in model.live.items()],
        awaits=[f"{label}: {identity!r}" for label, identity in model.awaits.items()],
        needs=[f"{label}: {keys!r}" for label, keys in model.needs.items()],
        states=states,
    )


def _printable(text: str) -> str:
    """Text for a comment: printable ASCII only (no way to end the comment line)."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)
