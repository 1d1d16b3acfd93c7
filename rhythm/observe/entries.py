"""What an activation's history entry says (docs/observability.md "History").

Pure: no I/O. The Postgres worker (:mod:`rhythm.runtime.activation`) and the in-memory
runner (:mod:`rhythm.engine.memory`) build their entries here from the same facts - the
label the machine resumed at and stopped at, the promises whose outcome it read
(``host.read``), the effects it requested - so both record the same entries.

The snapshot an entry keeps is the JSON text of the document the activation committed,
compressed with zlib when it is :data:`RAW_BELOW` bytes or more, unless its text is
longer than the cap (then only its size is kept and ``snapshot_truncated`` is true).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rhythm.engine.promises import PromiseRecord, PromiseTable

DEFAULT_SNAPSHOT_CAP = 64 * 1024
"""Largest snapshot (bytes of its JSON text) an entry keeps; the worker's
``history_snapshot_cap`` (docs/configuration.md)."""

RAW_BELOW = 256
"""A snapshot whose JSON text is shorter than this is kept as that text: zlib saves a
few bytes of it (145 to 125 for the benchmark's 10-step workflow) for ~4 us a step."""

EFFECT_KINDS = ("task", "timer", "signal", "child")


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of an execution's history (``rhythm.observe.history`` reads them;
    the in-memory runner makes them as dicts of :meth:`to_json`'s shape)."""

    seq: int
    at: datetime
    kind: str
    step: int | None
    worker: str | None
    detail: dict[str, Any]
    snapshot_bytes: int | None
    snapshot_truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "kind": self.kind,
                "step": self.step, "worker": self.worker, "detail": self.detail,
                "snapshot_bytes": self.snapshot_bytes,
                "snapshot_truncated": self.snapshot_truncated}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry:
        at = datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))
        return cls(seq=data["seq"], at=at, kind=data["kind"], step=data.get("step"),
                   worker=data.get("worker"), detail=data.get("detail") or {},
                   snapshot_bytes=data.get("snapshot_bytes"),
                   snapshot_truncated=bool(data.get("snapshot_truncated")))


@dataclass(frozen=True)
class Packed:
    """A snapshot as an entry stores it: its JSON text, zlib of it from :data:`RAW_BELOW`
    bytes on (None over the cap)."""

    data: bytes | None
    size: int | None

    @property
    def truncated(self) -> bool:
        return self.data is None and self.size is not None


# (json.dumps with separators builds an encoder per call: 0.8 of its 2.8 us here)
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def pack_snapshot(snapshot: Any, cap: int = DEFAULT_SNAPSHOT_CAP,
                  text_made: str | None = None) -> Packed:
    """Compress ``snapshot`` (None: no snapshot) unless its JSON text exceeds ``cap``;
    ``text_made``: that text, compact, when the caller has it already."""
    if snapshot is None:
        return Packed(None, None)
    text = (text_made if text_made is not None else _COMPACT.encode(snapshot)).encode()
    if len(text) > cap:
        return Packed(None, len(text))
    if len(text) < RAW_BELOW and kept_as_text(text):
        return Packed(text, len(text))
    return Packed(_deflate(text), len(text))


def _deflate(text: bytes) -> bytes:
    """zlib of ``text`` with a window and memory sized to it: ``zlib.compress`` sets up a
    32 KiB window and 128 KiB of state whatever the input, ~50 us for a 100-byte
    snapshot, most of a history entry's cost; sized, ~4 us and the same bytes out.
    (``zlib.decompress`` reads any window size from the stream's header.)"""
    window = max(9, min(15, (len(text) - 1).bit_length()))
    deflate = zlib.compressobj(6, zlib.DEFLATED, window, max(1, window - 7))
    return deflate.compress(text) + deflate.flush()


def kept_as_text(data: bytes) -> bool:
    """Whether a stored snapshot is its JSON text: it begins with ``{`` (a zlib
    stream's first byte never is: its low four bits are 8)."""
    return data[:1] == b"{"


def unpack_snapshot(data: bytes) -> dict[str, Any]:
    """The document of a stored snapshot (:func:`kept_as_text`, or zlib of it)."""
    document: dict[str, Any] = json.loads(data if kept_as_text(data) else zlib.decompress(data))
    return document


def outcome_of(record: PromiseRecord) -> str:
    """ok | error | timeout | cancelled: how a settled promise ended."""
    if record.state == "fulfilled":
        return "ok"
    name = record.value.get("name") if isinstance(record.value, dict) else None
    if name == "TimeoutError":
        return "timeout"
    if name == "CancelledError":
        return "cancelled"
    return "error"


def name_of(record: PromiseRecord) -> str | None:
    if record.kind == "signal":
        return str(record.params.get("channel"))
    if record.kind in ("task", "child"):
        return str(record.params.get("name"))
    return None


def settled_list(table: PromiseTable, read: Iterable[int]) -> list[list[Any]]:
    """The task/timer/signal/child promises whose outcome the machine read (through a
    combinator: its settled members), each once, in the order read: ``[promise, kind,
    name, outcome]`` each."""
    out: list[list[Any]] = []
    seen: set[int] = set()
    for pid in read:
        _add_settled(table, pid, seen, out)
    return out


def _add_settled(table: PromiseTable, pid: int, seen: set[int], out: list[list[Any]]) -> None:
    # (a function of the module, not a recursive closure: that would be a reference
    # cycle per activation, left to the garbage collector)
    if pid in seen or pid not in table.records:
        return
    seen.add(pid)
    record = table.get(pid)
    if record.kind == "combinator":
        for member in record.params.get("members", []):
            if "promise" in member:
                _add_settled(table, int(member["promise"]), seen, out)
    elif record.settled:
        out.append([pid, record.kind, name_of(record), outcome_of(record)])


def effect_list(table: PromiseTable, requested: Iterable[int]) -> list[list[Any]]:
    """The tasks, timers, signal waits and children the activation requested: ``[promise,
    kind, name]`` each, and a timer's due time."""
    out: list[list[Any]] = []
    for pid in requested:
        record = table.get(pid)
        if record.kind not in EFFECT_KINDS:
            continue
        effect: list[Any] = [pid, record.kind, name_of(record)]
        if record.kind == "timer" and record.params.get("due") is not None:
            effect.append(iso_ms(int(record.params["due"])))
        out.append(effect)
    return out


def waiting_for(table: PromiseTable, promise_id: int | None) -> dict[str, Any] | None:
    """What a suspended activation waits on: ``{promise, kind, name}``; a combinator's
    kind is its own (all, race, ...) with its promise ``members`` described alike."""
    if promise_id is None or promise_id not in table.records:
        return None
    record = table.get(promise_id)
    if record.kind != "combinator":
        return {"promise": promise_id, "kind": record.kind, "name": name_of(record)}
    members = [waiting_for(table, int(m["promise"]))
               for m in record.params.get("members", []) if "promise" in m]
    return {"promise": promise_id, "kind": str(record.params.get("combinator")),
            "name": None, "members": [m for m in members if m is not None]}


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def activation_detail(
    *, resumed_label: Any, stopped_label: Any, status: str, lines: Mapping[int, int],
    table: PromiseTable, read: Iterable[int], requested: Iterable[int],
    packed: Packed, error: Any = None, stopped_line: int | None = None,
    waiting_on: int | None = None, awaits: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """An ``activation`` entry's detail in its stored form (:func:`contract_detail` gives
    the contract's shape back). ``stopped_line`` (an ending's own line: the statement
    that threw, or the ``return``) wins over the label's.

    The stored form (docs/internals/schema.md, "history") says the contract's facts
    under short keys, a position or a promise as an array, and nothing the rest of the
    entry already says: ``r`` [state, line] resumed at (absent: the first activation);
    ``s`` [state, line, status] stopped at, and a suspended one's await identity; ``in``
    the settled list, ``out`` the effects (absent when empty); ``t`` true when the
    snapshot was truncated; ``w`` (suspended) what it waits on, as the id of a promise
    its lists describe, else ``{promise, kind, name[, members]}`` or null; ``e`` the
    error of a failed or cancelled ending. ~110 bytes of JSON for a step of the
    benchmark's workflow where the contract's shape takes ~300: the entry's row is the
    widest a step writes (docs/performance.md, "Observability, fifth round"). Built in
    this form directly: converting the contract's shape cost as much again."""
    detail: dict[str, Any] = {}
    if isinstance(resumed_label, int):
        detail["r"] = [resumed_label, lines.get(resumed_label)]
    labelled = isinstance(stopped_label, int)
    line = stopped_line if stopped_line is not None else (
        lines.get(stopped_label) if labelled else None)
    stopped = [stopped_label if labelled else None, line, status]
    if status == "suspended" and awaits and stopped_label in awaits:
        stopped.append(awaits[stopped_label])  # its identity (docs/upgrades.md)
    detail["s"] = stopped
    settled = settled_list(table, read)
    if settled:
        detail["in"] = settled
    effects = effect_list(table, requested)
    if effects:
        detail["out"] = effects
    if packed.truncated:
        detail["t"] = True
    if status == "suspended":
        waiting = waiting_for(table, waiting_on)
        promise = waiting["promise"] if waiting is not None and "members" not in waiting \
            else None
        listed = any(x[0] == promise for x in (*effects, *settled))
        detail["w"] = promise if listed else waiting
    if error is not None and status in ("failed", "cancelled"):
        detail["e"] = short_error(error)
    return detail


_NAMED_KEYS = ("promise", "kind", "name")
_SETTLED_KEYS = (*_NAMED_KEYS, "outcome")
_EFFECT_KEYS = (*_NAMED_KEYS, "due_at")


def contract_detail(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The detail of an entry of ``kind`` as :func:`activation_detail` stored it, in the
    contract's shape; any other detail as it is (other kinds, and activation entries
    written before the stored form, which have the contract's shape already)."""
    if kind != "activation" or "s" not in stored or "stopped" in stored:
        return stored
    state, line, status, *identity = stored["s"]
    resumed = stored.get("r")
    detail: dict[str, Any] = {
        "resumed": None if resumed is None else {"state": resumed[0], "line": resumed[1]},
        "stopped": {"state": state, "line": line,
                    **({"await": identity[0]} if identity else {}), "status": status},
        "settled": [dict(zip(_SETTLED_KEYS, x, strict=True)) for x in stored.get("in", ())],
        "effects": [dict(zip(_EFFECT_KEYS, x, strict=False)) for x in stored.get("out", ())],
        "snapshot_truncated": bool(stored.get("t", False)),
    }
    if "w" in stored:
        waiting = stored["w"]
        detail["waiting"] = _described(detail, waiting) if isinstance(waiting, int) \
            else waiting
    if "e" in stored:
        detail["error"] = stored["e"]
    return detail


def _described(detail: dict[str, Any], promise: int) -> dict[str, Any] | None:
    """``{promise, kind, name}`` of ``promise`` as the detail's effects (else its settled
    list) describe it; None when neither does."""
    for item in (*detail["effects"], *detail["settled"]):
        if item["promise"] == promise:
            return {k: item[k] for k in _NAMED_KEYS}
    return None


def short_error(error: Any) -> dict[str, Any]:
    """``{name, message}`` of an error, its message cut at 500 characters."""
    if isinstance(error, dict):
        return {"name": storable(str(error.get("name", "Error"))[:200]),
                "message": storable(str(error.get("message", ""))[:500])}
    return {"name": "Error", "message": storable(repr(error)[:500])}


_NOT_IN_JSONB = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` as jsonb can hold it: a NUL or a lone surrogate (which an error's message
    may carry, and the execution's json error column keeps) becomes U+FFFD, so that the
    entry never makes the activation's commit fail."""
    return _NOT_IN_JSONB.sub("\ufffd", text)


def commit_fields(detail: dict[str, Any], packed: Packed) -> dict[str, Any]:
    """The entry as fields of the group commit's element (``rhythm.activation_commit``,
    migration 0018): its detail, its snapshot as stored - the JSON text when kept as text,
    else base64 of the zlib - and its size. Its worker is the element's."""
    fields: dict[str, Any] = {"history_detail": detail, "history_snapshot_bytes": packed.size}
    data = packed.data
    if data is not None and kept_as_text(data):
        fields["history_snapshot_text"] = data.decode()
    elif data is not None:
        fields["history_snapshot_zlib"] = base64.b64encode(data).decode()
    return fields
