"""The snapshot codec: live flow variables <-> JSON that Postgres (jsonb) stores faithfully.

``encode({name: value})`` gives a JSON-ready value; ``decode`` gives fresh values back.
What survives: arrays and objects shared between variables (or inside one value) stay
shared, cycles survive, promises come back as the same handles, ints stay ints and floats
floats, object key order is kept, and every user key (``"$ref"``, ``"__proto__"``, ...)
round-trips because user keys are never JSON object keys here.

Format (version 1): ``{"codec": 1, "vars": [name, value, name, value, ...]}`` where a
value is encoded as

- null, booleans, ints, non-integral floats, ordinary strings: themselves;
- an array: a JSON array of encoded values;
- an object: ``{"o": [key, value, key, value, ...]}`` (keys are encoded strings);
- an array/object met more than once: ``{"a": [...], "i": n}`` / ``{"o": [...], "i": n}``
  at its first occurrence (depth first, in order) and ``{"r": n}`` afterwards;
- a promise ``{"p": id}``; an integral float beyond 2**53 ``{"f": "1e+300"}``; a string
  jsonb cannot hold (NUL, lone surrogates) ``{"z": [code points]}``; a built-in function
  value ``{"fn": "Math.max"}`` or ``{"fn": "array.push", "this": receiver}``.

Everything order-dependent lives in JSON arrays, because jsonb reorders object keys.
Encoding takes one pass when nothing is shared; on meeting a container twice it starts
again with a counting pass. Arrow functions cannot be snapshotted (ValueError): the
language only passes them to array methods, so they never outlive a suspension.
"""

from __future__ import annotations

import math
import re
from typing import Any, NoReturn

from rhythm.flowrt.protocol import FlowLimit, FlowValue, Host, JsonValue, Promise
from rhythm.flowrt.values import MAX_DEPTH, BuiltinFunction

FORMAT = 1
_SPECIAL_STRING = re.compile("[\x00\ud800-\udfff]")


def _too_deep() -> NoReturn:
    raise FlowLimit(
        f"a value nested more than {MAX_DEPTH} levels deep cannot be saved in a snapshot"
    )


class _Shared(Exception):
    """Raised by the one-pass encoder when a container occurs twice."""


# ---------------------------------------------------------------- encode


def encode(values: dict[str, FlowValue]) -> JsonValue:
    """JSON-ready form of the named values (see the module docstring)."""
    try:
        try:
            seen: set[int] = set()
            flat = [
                part for name, value in values.items() for part in (name, _plain(value, seen, 1))
            ]
        except _Shared:
            flat = _SharingEncoder(values).encode()
    except RecursionError:
        raise FlowLimit("a value is nested too deeply to be saved in a snapshot") from None
    return {"codec": FORMAT, "vars": flat}


def _string(s: str) -> JsonValue:
    if (s.isascii() and "\x00" not in s) or not _SPECIAL_STRING.search(s):
        return s
    return {"z": [ord(c) for c in s]}


def _scalar(v: FlowValue) -> JsonValue:
    """Encoded form of a non-container value."""
    t = type(v)
    if t is str:
        return _string(v)
    if t is float:
        return {"f": repr(v)} if v.is_integer() else v
    if t is int or t is bool or v is None:
        return v
    if t is Promise:
        return {"p": v.id}
    if t is BuiltinFunction:
        return _function(v, _plain_receiver)
    raise ValueError("an arrow function cannot be kept in a snapshot")


def _plain_receiver(receiver: FlowValue) -> JsonValue:
    return _plain(receiver, set(), 1)


def _function(fn: BuiltinFunction, encode_receiver: Any) -> JsonValue:
    if fn.receiver is None:
        return {"fn": fn.name}
    return {"fn": fn.name, "this": encode_receiver(fn.receiver)}


def _plain(v: FlowValue, seen: set[int], depth: int) -> JsonValue:
    """One-pass encoding of a value whose containers all occur once (else raise _Shared).

    The element loop is written out for lists and for dicts on purpose: this is the
    snapshot hot path (10 KB in well under 1 ms), and a shared helper per element costs
    a Python call per value.
    """
    t = type(v)
    if depth > MAX_DEPTH:
        _too_deep()
    if t is list:
        if id(v) in seen:
            raise _Shared
        seen.add(id(v))
        out: list[JsonValue] = []
        append = out.append
        for x in v:
            tx = type(x)
            if tx is str:
                append(x if x.isascii() and "\x00" not in x else _string(x))
            elif tx is int or tx is bool or x is None:
                append(x)
            elif tx is list or tx is dict:
                append(_plain(x, seen, depth + 1))
            else:
                append(_scalar(x))
        return out
    if t is dict:
        if id(v) in seen:
            raise _Shared
        seen.add(id(v))
        pairs: list[JsonValue] = []
        append = pairs.append
        for key, x in v.items():
            append(key if key.isascii() and "\x00" not in key else _string(key))
            tx = type(x)
            if tx is str:
                append(x if x.isascii() and "\x00" not in x else _string(x))
            elif tx is int or tx is bool or x is None:
                append(x)
            elif tx is list or tx is dict:
                append(_plain(x, seen, depth + 1))
            else:
                append(_scalar(x))
        return {"o": pairs}
    if t is BuiltinFunction and type(v.receiver) in (list, dict):
        # A bound method shares its receiver with whatever else holds it.
        raise _Shared
    return _scalar(v)


class _SharingEncoder:
    """Two passes: count container occurrences, then encode with definitions and refs."""

    def __init__(self, values: dict[str, FlowValue]) -> None:
        self.values = values
        self.counts: dict[int, int] = {}
        self.numbers: dict[int, int] = {}

    def encode(self) -> list[JsonValue]:
        for value in self.values.values():
            self._count(value)
        return [
            part for name, value in self.values.items() for part in (name, self._enc(value, 1))
        ]

    def _count(self, v: FlowValue, depth: int = 1) -> None:
        t = type(v)
        if t is BuiltinFunction:
            self._count(v.receiver, depth + 1)
        elif t is list or t is dict:
            if depth > MAX_DEPTH:
                _too_deep()
            n = self.counts.get(id(v), 0)
            self.counts[id(v)] = n + 1
            if n == 0:
                for x in v if t is list else v.values():
                    self._count(x, depth + 1)

    def _enc(self, v: FlowValue, depth: int) -> JsonValue:
        t = type(v)
        if t is list or t is dict:
            if depth > MAX_DEPTH:
                _too_deep()
            number = self.numbers.get(id(v))
            if number is not None:
                return {"r": number}
            shared = self.counts[id(v)] > 1
            if shared:
                number = self.numbers[id(v)] = len(self.numbers)
            if t is list:
                body: JsonValue = [self._enc(x, depth + 1) for x in v]
                return {"a": body, "i": number} if shared else body
            pairs = [
                part for key, x in v.items() for part in (_string(key), self._enc(x, depth + 1))
            ]
            return {"o": pairs, "i": number} if shared else {"o": pairs}
        if t is BuiltinFunction:
            return _function(v, lambda receiver: self._enc(receiver, depth + 1))
        return _scalar(v)


# ---------------------------------------------------------------- decode


def promise_ids(data: JsonValue) -> set[int]:
    """Ids of every promise handle inside encoded data, without decoding it.

    A host uses it to load only the promises a snapshot can reach. Unambiguous because
    user objects are always ``{"o": [...]}``: a one-key ``{"p": int}`` is a handle.
    """
    found: set[int] = set()
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if len(item) == 1 and type(item.get("p")) is int:
                found.add(item["p"])
            else:
                stack.extend(item.values())
    return found


def decode(data: JsonValue, host: Host | None = None) -> dict[str, FlowValue]:
    """The values ``encode`` was given (fresh objects); ValueError if ``data`` is not a snapshot.

    ``host`` is needed only to rebuild host-using built-in function values (``Task.run``).
    """
    if type(data) is not dict or data.get("codec") != FORMAT or type(data.get("vars")) is not list:
        raise ValueError(f"not a flow snapshot (codec {FORMAT}): {_show(data)}")
    flat = data["vars"]
    if len(flat) % 2:
        raise ValueError("snapshot vars must alternate names and values")
    decoder = _Decoder(host)
    out: dict[str, FlowValue] = {}
    try:
        for i in range(0, len(flat), 2):
            name = flat[i]
            if type(name) is not str:
                raise ValueError(f"snapshot variable name must be a string, got {_show(name)}")
            out[name] = decoder.value(flat[i + 1])
    except RecursionError:
        raise ValueError("snapshot nested too deeply") from None
    return out


class _Decoder:
    def __init__(self, host: Host | None) -> None:
        self.host = host
        self.table: list[Any] = []

    def value(self, x: JsonValue) -> FlowValue:
        t = type(x)
        if t is list:
            return [e if type(e) in _PLAIN else self.value(e) for e in x]
        if t is dict:
            return self._tagged(x)
        if t in _PLAIN or t is float:
            if t is float and not math.isfinite(x):
                raise ValueError(f"snapshot holds a non-finite number: {x!r}")
            return x
        raise ValueError(f"snapshot holds a value that is not JSON: {_show(x)}")

    def _tagged(self, x: dict[str, Any]) -> FlowValue:
        if "o" in x:
            return self._object(x)
        if "r" in x:
            number = x["r"]
            if type(number) is not int or not 0 <= number < len(self.table):
                raise ValueError(f"snapshot refers to undefined shared value {_show(number)}")
            return self.table[number]
        if "a" in x:
            items = x["a"]
            if type(items) is not list:
                raise ValueError(f"snapshot array body is not a list: {_show(items)}")
            out: list[FlowValue] = []
            self._define(x, out)
            out.extend(self.value(e) for e in items)
            return out
        if "p" in x and type(x["p"]) is int:
            return Promise(x["p"])
        if "f" in x and type(x["f"]) is str:
            return self._float(x["f"])
        if "z" in x:
            return self._code_points(x["z"])
        if "fn" in x:
            return self._function(x)
        raise ValueError(f"snapshot holds an unknown tagged value: {_show(x)}")

    def _object(self, x: dict[str, Any]) -> dict[str, FlowValue]:
        pairs = x["o"]
        if type(pairs) is not list or len(pairs) % 2:
            raise ValueError(f"snapshot object body must be [key, value, ...]: {_show(pairs)}")
        out: dict[str, FlowValue] = {}
        if "i" in x:
            self._define(x, out)
        for i in range(0, len(pairs), 2):
            key = pairs[i]
            if type(key) is not str:
                key = self.value(key)
                if type(key) is not str:
                    raise ValueError(f"snapshot object key is not a string: {_show(key)}")
            value = pairs[i + 1]
            out[key] = value if type(value) in _PLAIN else self.value(value)
        return out

    def _define(self, x: dict[str, Any], container: FlowValue) -> None:
        number = x.get("i")
        if number != len(self.table) or type(number) is not int:
            raise ValueError(f"snapshot defines shared value {_show(number)} out of order")
        self.table.append(container)

    @staticmethod
    def _float(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"snapshot float is malformed: {_show(text)}") from None
        if not math.isfinite(value):
            raise ValueError(f"snapshot holds a non-finite number: {_show(text)}")
        return value

    @staticmethod
    def _code_points(points: Any) -> str:
        if type(points) is not list or not all(
            type(p) is int and 0 <= p <= 0x10FFFF for p in points
        ):
            raise ValueError(f"snapshot string is malformed: {_show(points)}")
        return "".join(map(chr, points))

    def _function(self, x: dict[str, Any]) -> FlowValue:
        from rhythm.flowrt.builtins import builtin_function
        from rhythm.flowrt.methods import bound_method

        name = x["fn"]
        if type(name) is not str:
            raise ValueError(f"snapshot function name is not a string: {_show(name)}")
        if "this" in x:
            receiver = self.value(x["this"])
            method = name.partition(".")[2]
            bound = bound_method(receiver, method)
            if bound is None or bound.name != name:
                raise ValueError(f"snapshot holds an unknown method {_show(name)}")
            return bound
        try:
            return builtin_function(name, self.host)
        except KeyError:
            raise ValueError(f"snapshot holds an unknown built-in {_show(name)}") from None


_PLAIN = frozenset({str, int, bool, type(None)})


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
