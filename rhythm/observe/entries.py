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
from collections.abc import Collection, Iterable, Mapping
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


def pack_snapshot(snapshot: Any, cap: int = DEFAULT_SNAPSHOT_CAP) -> Packed:
    """Compress ``snapshot`` (None: no snapshot) unless its JSON text exceeds ``cap``."""
    if snapshot is None:
        return Packed(None, None)
    text = _COMPACT.encode(snapshot).encode()
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


def position(label: Any, lines: Mapping[int, int]) -> dict[str, Any] | None:
    """``{state, line}`` of a machine label (None when there is no label)."""
    if not isinstance(label, int):
        return None
    return {"state": label, "line": lines.get(label)}


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


def settled_list(table: PromiseTable, read: Iterable[int]) -> list[dict[str, Any]]:
    """The task/timer/signal/child promises whose outcome the machine read (through a
    combinator: its settled members), each once, in the order read."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for pid in read:
        _add_settled(table, pid, seen, out)
    return out


def _add_settled(table: PromiseTable, pid: int, seen: set[int],
                 out: list[dict[str, Any]]) -> None:
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
        out.append({"promise": pid, "kind": record.kind, "name": name_of(record),
                    "outcome": outcome_of(record)})


def effect_list(table: PromiseTable, requested: Iterable[int]) -> list[dict[str, Any]]:
    """The tasks, timers, signal waits and children the activation requested."""
    out: list[dict[str, Any]] = []
    for pid in requested:
        record = table.get(pid)
        if record.kind not in EFFECT_KINDS:
            continue
        effect: dict[str, Any] = {"promise": pid, "kind": record.kind, "name": name_of(record)}
        if record.kind == "timer" and record.params.get("due") is not None:
            effect["due_at"] = iso_ms(int(record.params["due"]))
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
    """An ``activation`` entry's detail (the contract's shape, and ``waiting``: what a
    suspended one waits on). ``stopped_line`` (an ending's own line: the statement that
    threw, or the ``return``) wins over the label's."""
    stopped = position(stopped_label, lines) or {"state": None, "line": None}
    if stopped_line is not None:
        stopped["line"] = stopped_line
    if status == "suspended" and awaits and stopped_label in awaits:
        stopped["await"] = awaits[stopped_label]  # its identity (docs/upgrades.md)
    detail: dict[str, Any] = {
        "resumed": position(resumed_label, lines),
        "stopped": {**stopped, "status": status},
        "settled": settled_list(table, read),
        "effects": effect_list(table, requested),
        "snapshot_truncated": packed.truncated,
    }
    if status == "suspended":
        detail["waiting"] = waiting_for(table, waiting_on)
    if error is not None and status in ("failed", "cancelled"):
        detail["error"] = short_error(error)
    return detail


# An activation entry's detail as stored (docs/internals/schema.md, "history"): the same
# facts under short keys, a position or a promise as an array, nothing that the rest of
# the entry already says (`waiting` as the id of a promise its lists describe; no
# `snapshot_truncated` when false). ~120 bytes where the contract's shape takes ~320
# for a step of the benchmark's workflow: the entry's row is the widest a step writes,
# and its bytes are most of what history costs (docs/performance.md, "Observability,
# fifth round"). A detail of another shape is stored as it is; read_history gives the
# contract's shape back (contract_detail).
_NAMED_KEYS = ("promise", "kind", "name")
_SETTLED_KEYS = (*_NAMED_KEYS, "outcome")
# The key orders of the shape activation_detail makes (a dict's keys as a tuple: one C
# call per dict to check, where the entry is built on every step).
_DETAIL_BASE = ("resumed", "stopped", "settled", "effects", "snapshot_truncated")
_DETAIL_SHAPES = frozenset({_DETAIL_BASE, (*_DETAIL_BASE, "waiting"),
                            (*_DETAIL_BASE, "error"), (*_DETAIL_BASE, "waiting", "error")})
_STOPPED_SHAPES = frozenset({("state", "line", "status"), ("state", "line", "await", "status")})
_EFFECT_SHAPES = frozenset({_NAMED_KEYS, (*_NAMED_KEYS, "due_at")})
_POSITION_SHAPES = frozenset({("state", "line")})
_SETTLED_SHAPES = frozenset({_SETTLED_KEYS})
_NAMED_SHAPES = frozenset({_NAMED_KEYS})


def stored_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` (an activation entry's, as :func:`activation_detail` made it) in its
    stored form; itself when its shape is not that one."""
    if not _shaped(detail, _DETAIL_SHAPES):
        return detail
    stopped, resumed = detail["stopped"], detail["resumed"]
    if not (_shaped(stopped, _STOPPED_SHAPES)
            and (resumed is None or _shaped(resumed, _POSITION_SHAPES))
            and all(_shaped(x, _SETTLED_SHAPES) for x in detail["settled"])
            and all(_shaped(x, _EFFECT_SHAPES) for x in detail["effects"])):
        return detail
    # (the shape is checked: the values come in the keys' order)
    out: dict[str, Any] = {}
    if resumed is not None:
        out["r"] = list(resumed.values())
    out["s"] = [stopped["state"], stopped["line"], stopped["status"]] + (
        [stopped["await"]] if "await" in stopped else [])
    if detail["settled"]:
        out["in"] = [list(x.values()) for x in detail["settled"]]
    if detail["effects"]:
        out["out"] = [list(x.values()) for x in detail["effects"]]
    if detail["snapshot_truncated"]:
        out["t"] = True
    if "waiting" in detail:
        waiting = detail["waiting"]
        listed = _shaped(waiting, _NAMED_SHAPES) and _described(detail, waiting) == waiting
        out["w"] = waiting["promise"] if listed else waiting
    if "error" in detail:
        out["e"] = detail["error"]
    return out


def contract_detail(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The detail of an entry of ``kind`` as read from the table, in the contract's
    shape (:func:`stored_detail` reversed; any other detail as it is)."""
    if kind != "activation" or "s" not in stored or "stopped" in stored:
        return stored
    state, line, status, *identity = stored["s"]
    resumed = stored.get("r")
    detail: dict[str, Any] = {
        "resumed": None if resumed is None else {"state": resumed[0], "line": resumed[1]},
        "stopped": {"state": state, "line": line,
                    **({"await": identity[0]} if identity else {}), "status": status},
        "settled": [dict(zip(_SETTLED_KEYS, x, strict=True)) for x in stored.get("in", ())],
        "effects": [dict(zip((*_NAMED_KEYS, "due_at"), x, strict=False))
                    for x in stored.get("out", ())],
        "snapshot_truncated": bool(stored.get("t", False)),
    }
    if "w" in stored:
        waiting = stored["w"]
        detail["waiting"] = _described(detail, {"promise": waiting}) \
            if isinstance(waiting, int) else waiting
    if "e" in stored:
        detail["error"] = stored["e"]
    return detail


def _shaped(value: Any, shapes: Collection[tuple[str, ...]]) -> bool:
    """``value`` is a dict whose keys, in order, are one of ``shapes``."""
    return isinstance(value, dict) and tuple(value) in shapes


def _described(detail: dict[str, Any], waiting: dict[str, Any]) -> dict[str, Any] | None:
    """``{promise, kind, name}`` of the waited promise as the detail's effects (else its
    settled list) describe it; None when neither does."""
    for item in (*detail["effects"], *detail["settled"]):
        if item["promise"] == waiting["promise"]:
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
