"""Mapping one snapshot from an old version of a workflow to a new one (pure, no I/O).

An execution suspended at an await can move when the new version has an await with the
same identity, the await sits in the same kind of expression and loops (the compiler's
internal keys match: loop cursors, spilled temporaries), and every variable the new
version has bound before that await has a value: from the snapshot, else from ``--set``.
Variables the new version does not keep there are dropped. Values are decoded and
encoded again, so values shared between variables stay shared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rhythm.flowrt import codec
from rhythm.flowrt.machine import FlowMachine

_LOOPS = re.compile(r"^(while|do|for|for-of|for-in)#\d+$")


@dataclass(frozen=True)
class Mapping:
    """A compatible move: the snapshot to save, and where it stands in each version."""

    snapshot: dict[str, Any]
    identity: str
    from_label: int
    to_label: int


class Incompatible(Exception):
    """The execution cannot move; ``str()`` is the reason, as printed per execution."""


def short(identity: str) -> str:
    """How an await is named in a reason: ``charge`` for ``if#1/then/Task.run:charge#1``,
    ``approval`` for ``@approval``, else the await's own description."""
    leaf = identity.rsplit("/", 1)[-1]
    if leaf.startswith("@"):
        return leaf[1:]
    what = leaf.rsplit("#", 1)[0]
    return what.split(":", 1)[1] if ":" in what and "[" not in what else what


def map_snapshot(old: type[FlowMachine], new: type[FlowMachine], snapshot: dict[str, Any],
                 values: dict[str, Any] | None = None) -> Mapping:
    """The snapshot ``new`` resumes from (:class:`Incompatible` with the reason if none)."""
    if not new.AWAITS:
        raise Incompatible("the new version was compiled without await identities; rebuild it")
    label = snapshot.get("label")
    identity = old.AWAITS.get(label) if isinstance(label, int) else None
    if identity is None or not isinstance(label, int):
        raise Incompatible(f"suspended at state {label!r}, which has no await identity "
                           "(compiled before await identities; rebuild the old version)")
    by_identity = {ident: lab for lab, ident in new.AWAITS.items()}
    to_label = by_identity.get(identity)
    if to_label is None:
        raise Incompatible(_gone(identity, new.AWAITS.values()))
    old_internal = _internal(old.LIVE.get(label, ()))
    new_internal = _internal(new.LIVE.get(to_label, ()))
    if [_kind(k) for k in old_internal] != [_kind(k) for k in new_internal]:
        raise Incompatible(f"await '{short(identity)}' sits in a different expression or "
                           "loop in the new version")
    renamed = dict(zip(new_internal, old_internal, strict=True))
    kept = codec.decode(snapshot.get("vars"), None)
    moved: dict[str, Any] = {}
    missing = []
    for key in new.LIVE.get(to_label, ()):
        source = renamed.get(key, key)
        if source in kept:
            moved[key] = kept[source]
        elif values and key in values:
            moved[key] = values[key]
        elif key in new.NEEDS.get(to_label, ()):
            missing.append(key)
    if missing:
        raise Incompatible("; ".join(f"variable '{k}' has no value" for k in missing))
    saved = {**snapshot, "version": new.INFO.version, "label": to_label,
             "vars": codec.encode(moved)}
    return Mapping(saved, identity, label, to_label)


def _gone(identity: str, others: Any) -> str:
    """Why an identity has no match: a loop around it was removed, or it is gone."""
    leaf = identity.rsplit("/", 1)[-1]
    loops = {s for s in identity.split("/")[:-1] if _LOOPS.match(s)}
    for other in others:
        if other.rsplit("/", 1)[-1] == leaf and loops - set(other.split("/")[:-1]):
            return f"await '{short(identity)}' is inside a loop the new version removed"
    return f"await '{short(identity)}' no longer exists"


def _internal(keys: tuple[str, ...]) -> list[str]:
    """The compiler's own keys (loop cursors, temporaries, finally slots), in order."""
    return [k for k in keys if k.startswith("#")]


def _kind(key: str) -> str:
    return key.rstrip("0123456789")
