"""``rhythm history``'s readable timeline: one line per entry (seq, time, kind, what
happened), e.g. ``3  2026-12-02 12:00:01.234  activation  step 3 resumed at line 14
(signal approval) -> waiting at line 21: task refund_payment``."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from rhythm.observe.entries import HistoryEntry


def timeline(entries: list[HistoryEntry]) -> list[str]:
    """The entries as aligned lines."""
    kinds = max((len(e.kind) for e in entries), default=0)
    seqs = max((len(str(e.seq)) for e in entries), default=0)
    return [f"{e.seq:>{seqs}}  {_time(e)}  {e.kind:<{kinds}}  {describe(e)}" for e in entries]


def _time(entry: HistoryEntry) -> str:
    return entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def describe(entry: HistoryEntry) -> str:
    """What the entry says, in a few words."""
    d = entry.detail
    if entry.kind == "activation":
        return _activation(entry.step, d, entry.snapshot_bytes)
    if entry.kind == "started":
        by = f" by {entry.worker}" if entry.worker else ""
        version = f" (version {str(d['version'])[:12]})" if d.get("version") else ""
        run = f", run {d['run_no']}" if (d.get("run_no") or 1) > 1 else ""
        return f"started {d.get('name', '?')}{version}{by}{run}"
    if entry.kind == "signal":
        where = ("buffered" if d.get("buffered")
                 else f"delivered to promise {d.get('delivered_to')}")
        return f"signal {d.get('name')} arrived ({where})"
    if entry.kind == "cancel_requested":
        parent = d.get("parent_id")
        return "cancellation requested" + (f" (its parent {parent} was cancelled)"
                                           if parent else "")
    if entry.kind == "retry":
        return _retry(d)
    if entry.kind == "upgraded":
        return (f"upgraded from version {str(d.get('from_version'))[:12]} "
                f"to {str(d.get('to_version'))[:12]}")
    if entry.kind == "forked":
        return f"forked from {d.get('from_id')} at step {d.get('from_step')}"
    return ", ".join(f"{k}={v}" for k, v in d.items())


def _retry(d: dict[str, Any]) -> str:
    run = f": run {d['run_no']} starts from the beginning" if d.get("run_no") else ""
    return f"retried{run}"


def _at(position: dict[str, Any] | None) -> str:
    if not position or position.get("line") is None:
        return "" if not position else f" at state {position.get('state')}"
    return f" at line {position['line']}"


def _activation(step: int | None, d: dict[str, Any], size: int | None) -> str:
    resumed = d.get("resumed")
    text = f"step {step} " + ("started" if resumed is None else f"resumed{_at(resumed)}")
    settled = [_settled(s) for s in d.get("settled", [])]
    if settled:
        text += f" ({', '.join(settled)})"
    stopped = d.get("stopped") or {}
    status = stopped.get("status")
    if status == "suspended":
        text += f" -> waiting{_at(stopped)}: {_waiting(d.get('waiting'))}"
    else:
        text += f" -> {status}{_at(stopped)}"
        error = d.get("error")
        if error and status != "completed":
            text += f": {error.get('name')}: {error.get('message')}"
    if d.get("snapshot_truncated"):
        text += f" [snapshot of {size} bytes not kept: over the cap]"
    return text


def _settled(s: dict[str, Any]) -> str:
    what = s["kind"] if s.get("name") is None else f"{s['kind']} {s['name']}"
    return what if s.get("outcome") == "ok" else f"{what}: {s.get('outcome')}"


def _waiting(w: dict[str, Any] | None) -> str:
    if w is None:
        return "?"
    if "members" in w:
        members = ", ".join(_waiting(m) for m in w["members"])
        return f"Promise.{w['kind']}({members})"
    return w["kind"] if w.get("name") is None else f"{w['kind']} {w['name']}"
