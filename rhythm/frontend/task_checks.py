"""Warnings about task calls the project's task modules do not back.

For every ``Task.run("name", {...})`` (or ``task(...)``) whose name is a string literal:
an unknown name is a warning with a "did you mean"; a literal inputs object whose keys are
all plain names is checked against the function's parameters (missing required ones,
unexpected ones unless it takes ``**kwargs``). Warnings, not errors: the task may live in a
module the project file does not list, or be defined in a way the scan cannot see.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.task_index import TaskIndex
from rhythm.frontend.walk import children


@dataclass(frozen=True)
class NamedCall:
    """A ``Task.run``/``task``/``Workflow.run`` call whose first argument is a literal."""

    kind: str  # "task" or "workflow"
    name: str
    name_span: A.Span
    call: A.Call


def walk(node: Any) -> Iterator[Any]:
    """Every node under ``node``, itself first, in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(children(current))))


def named_calls(program: A.Program) -> list[NamedCall]:
    """The task and child-workflow calls of a program that name their target literally."""
    found = []
    for node in walk(program):
        if not isinstance(node, A.Call) or not node.args:
            continue
        kind = _call_kind(node.callee)
        first = node.args[0]
        if kind is not None and isinstance(first, A.StringLit):
            found.append(NamedCall(kind, first.value, first.span, node))
    return found


def _call_kind(callee: Any) -> str | None:
    if isinstance(callee, A.Name) and callee.id == "task":
        return "task"
    if isinstance(callee, A.Member) and isinstance(callee.object, A.Name) \
            and callee.property == "run":
        return {"Task": "task", "Workflow": "workflow"}.get(callee.object.id)
    return None


def task_warnings(program: A.Program, index: TaskIndex, path: str) -> list[Diagnostic]:
    """Warnings for unknown task names and inputs that do not fit the task's parameters."""
    if not index.configured:
        return []
    warnings = []
    for call in named_calls(program):
        if call.kind != "task":
            continue
        info = index.tasks.get(call.name)
        if info is None:
            close = difflib.get_close_matches(call.name, sorted(index.tasks), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            warnings.append(Diagnostic.at(
                path, call.name_span, f"unknown task '{call.name}' (not in the task modules"
                f" {', '.join(index.modules)}){hint}"))
            continue
        inputs = call.call.args[1] if len(call.call.args) > 1 else A.ObjectLit(call.name_span, ())
        keys = _literal_keys(inputs)
        if keys is None:
            continue
        where = inputs.span if len(call.call.args) > 1 else call.name_span
        missing = sorted(info.required - set(keys))
        unexpected = [] if info.accepts_any else [k for k in keys if k not in info.params]
        problems = []
        if missing:
            problems.append("missing " + ", ".join(repr(n) for n in missing))
        if unexpected:
            problems.append("unexpected " + ", ".join(repr(n) for n in unexpected))
        if problems:
            expected = ", ".join(info.params) or "no inputs"
            warnings.append(Diagnostic.at(
                path, where, f"inputs do not match task '{call.name}'({expected}): "
                f"{'; '.join(problems)}"))
    return warnings


def _literal_keys(node: Any) -> list[str] | None:
    """The keys of an object literal whose keys are all static, else None."""
    if not isinstance(node, A.ObjectLit):
        return None
    keys = []
    for prop in node.props:
        if not isinstance(prop, A.Property) or not isinstance(prop.key, str):
            return None
        keys.append(prop.key)
    return keys
