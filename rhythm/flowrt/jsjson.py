"""``JSON.stringify`` and ``JSON.parse`` with JavaScript's output and errors.

Differences from Python's ``json`` that matter here: numbers print as JavaScript prints
them (``1e+21``, ``0.1``, ``2`` for an integral value), strings escape lone surrogates,
indentation follows JavaScript (``[]``/``{}`` stay empty, ``": "`` only when indenting),
cycles throw ``TypeError``, and parsing rejects ``NaN``/``Infinity`` with ``SyntaxError``.
Object keys keep insertion order (spec section 3), even integer-like ones.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring

from rhythm.flowrt.numbers import format_number, num
from rhythm.flowrt.protocol import FlowValue, Promise
from rhythm.flowrt.values import (
    CHARS_PER_OP,
    MAX_DEPTH,
    Walk,
    call,
    charge,
    check_joined,
    check_string,
    describe,
    is_function,
    nesting_exceeds,
    throw,
    to_str,
    too_deep,
    type_error,
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def quote(s: str) -> str:
    """A JSON string literal, as JavaScript's (well-formed) ``JSON.stringify`` writes it."""
    quoted: str = encode_basestring(s)
    if not s.isascii() and _SURROGATE.search(quoted):
        quoted = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)
    return quoted


def stringify(value: FlowValue, replacer: FlowValue = None, indent: FlowValue = None) -> FlowValue:
    """``JSON.stringify(value, replacer, indent)``; null where JavaScript gives undefined."""
    writer = _Writer(replacer, _gap(indent))
    text = writer.write("", value, "")
    writer.walk.done()
    return None if text is None else check_string(text)


def _gap(indent: FlowValue) -> str:
    t = type(indent)
    if t is int or t is float:
        return " " * max(0, min(10, int(indent)))
    if t is str:
        return indent[:10]
    if indent is None:
        return ""
    type_error(f"JSON.stringify indent must be a number or a string, got {describe(indent)}")


class _Writer:
    """One serialisation: the replacer, the gap and the stack used to detect cycles."""

    def __init__(self, replacer: FlowValue, gap: str) -> None:
        self.function = replacer if is_function(replacer) else None
        self.allowed: list[str] | None = None
        if type(replacer) is list:
            self.allowed = []
            for item in replacer:
                t = type(item)
                key = to_str(item) if t is str or t is int or t is float else None
                if key is not None and key not in self.allowed:
                    self.allowed.append(key)
        elif replacer is not None and self.function is None:
            type_error("JSON.stringify replacer must be a function, an array or null")
        self.gap = gap
        self.stack: list[int] = []
        self.walk = Walk()

    def write(self, key: str, value: FlowValue, indent: str) -> str | None:
        if self.function is not None:
            value = call(self.function, [key, value])
        t = type(value)
        if t is str:
            quoted = quote(value)
            self.walk.output(len(quoted))
            return quoted
        if t is int or t is float:
            return format_number(value)
        if value is None:
            return "null"
        if t is bool:
            return "true" if value else "false"
        if t is list or t is dict:
            if id(value) in self.stack:
                type_error("Converting circular structure to JSON")
            self.stack.append(id(value))
            self.walk.enter(len(value), len(self.stack), "JSON.stringify")
            text = self._list(value, indent) if t is list else self._dict(value, indent)
            self.stack.pop()
            return text
        if t is Promise:
            return "{}"  # what JavaScript prints for a Promise object
        return None  # functions: undefined in JavaScript

    def _list(self, items: list[FlowValue], indent: str) -> str:
        if not items:
            return "[]"
        inner = indent + self.gap
        parts = [self.write(str(i), item, inner) or "null" for i, item in enumerate(items)]
        return self._wrap("[", parts, "]", indent, inner)

    def _dict(self, obj: dict[str, FlowValue], indent: str) -> str:
        inner = indent + self.gap
        colon = ": " if self.gap else ":"
        parts = []
        keys = self.allowed if self.allowed is not None else list(obj)
        for key in keys:
            if key not in obj:
                continue
            text = self.write(key, obj[key], inner)
            if text is not None:
                parts.append(quote(key) + colon + text)
        if not parts:
            return "{}"
        return self._wrap("{", parts, "}", indent, inner)

    def _wrap(self, open_: str, parts: list[str], close: str, indent: str, inner: str) -> str:
        # Before joining: a shared sub-value (or one big string met many times) doubles
        # the text at each level.
        check_joined(parts, ",\n" + inner if self.gap else ",")
        if not self.gap:
            return open_ + ",".join(parts) + close
        return open_ + "\n" + inner + (",\n" + inner).join(parts) + "\n" + indent + close


def parse(text: FlowValue) -> FlowValue:
    """``JSON.parse(text)``: SyntaxError for anything that is not JSON; numbers normalised."""
    source = text if type(text) is str else to_str(text)
    charge(len(source) // CHARS_PER_OP)
    try:
        value = json.loads(
            source,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as error:
        throw("SyntaxError", f"JSON.parse: {error.msg} at position {error.pos}")
    except RecursionError:
        too_deep("JSON.parse")
    if nesting_exceeds(value, MAX_DEPTH):
        too_deep("JSON.parse")
    return value


def _parse_int(digits: str) -> int | float:
    try:
        return num(int(digits))
    except ValueError:  # more digits than Python converts by default
        return num(float(digits))


def _parse_float(text: str) -> int | float:
    return num(float(text))


def _reject_constant(name: str) -> None:
    throw("SyntaxError", f"JSON.parse: unexpected token {name}")
