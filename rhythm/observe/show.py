"""``rhythm inspect``'s text: the execution, the source around its line, what it waits
on, and its variables."""

from __future__ import annotations

import json
from typing import Any

from rhythm.observe.inspect import Inspection


def render(found: Inspection, at_step: int | None = None) -> list[str]:
    when = f"after step {at_step}" if at_step is not None else "now"
    version = f" (version {found.version[:12]})" if found.version else ""
    out = [f"{found.id}: {found.name}{version}, {found.status}"
           + (f", step {found.step}" if found.step is not None else "") + f" ({when})"]
    if found.line is not None:
        at = f" (await {found.await_identity})" if found.await_identity else ""
        out.append(f"at {found.source_path or found.name}:{found.line}{at}")
    for number, text in found.source_context:
        mark = ">" if number == found.line else " "
        out.append(f"  {mark} {number:>4} | {text}")
    if found.note:
        out.append(f"note: {found.note}")
    if found.pending:
        out.append("waiting on:")
        out.extend(f"  {_pending(p)}" for p in found.pending)
    if found.variables:
        out.append("variables:")
        out.extend(f"  {name} = {json.dumps(value)}" for name, value in found.variables.items())
    return out


def _pending(p: dict[str, Any]) -> str:
    head = f"#{p['promise']} {p['kind']}" + (f" {p['name']}" if p.get("name") else "")
    facts = []
    if p["kind"] == "task" and "state" in p:
        facts.append(f"{p.get('state')}, attempt {p.get('attempt')}")
    if p["kind"] == "child" and "status" in p:
        facts.append(str(p.get("status")))
    if p.get("due_at"):
        facts.append(f"due {p['due_at']}")
    if p["kind"] == "signal" and "buffered" in p:
        facts.append(f"{p['buffered']} buffered")
    return head + (f" ({'; '.join(facts)})" if facts else "")
