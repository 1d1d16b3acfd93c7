"""Numbers of the flow language: normalisation, JavaScript formatting and parsing.

A flow number is a Python ``int`` when it is integral and within ±2**53, else a finite
``float`` (spec section 3). Every arithmetic result goes through :func:`num`, which also
turns what JavaScript would call NaN or Infinity into a ``RangeError``.

Formatting follows ECMAScript ``Number::toString`` (shortest round-trip digits, which
Python's ``repr`` also produces, laid out with JavaScript's rules), and the parsers follow
``Number(string)``, ``parseInt`` and ``parseFloat``. This module depends only on the
protocol so that every other runtime module may import it.
"""

from __future__ import annotations

import math
import re
from typing import NoReturn

from rhythm.flowrt.protocol import FlowThrow, Promise

SAFE_INTEGER = 2**53
Number = int | float

# ECMAScript WhiteSpace + LineTerminator (what String.prototype.trim and Number() strip).
JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_DECIMAL_LITERAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", re.ASCII)
_PREFIXED_INTEGER = {"0x": 16, "0o": 8, "0b": 2}
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _range_error(message: str) -> NoReturn:
    raise FlowThrow({"name": "RangeError", "message": message})


def num(x: object) -> Number:
    """Normalise an arithmetic result: integral within ±2**53 -> int; NaN/Infinity -> RangeError."""
    if type(x) is int:
        if -SAFE_INTEGER <= x <= SAFE_INTEGER:
            return x
        return _big_int_to_float(x)
    if type(x) is not float:
        raise FlowThrow({"name": "TypeError", "message": f"expected a number, got {_kind(x)}"})
    if x != x:  # NaN
        _range_error("the result is not a number (NaN)")
    if x == math.inf or x == -math.inf:
        _range_error("the result is not a finite number")
    if -SAFE_INTEGER <= x <= SAFE_INTEGER and x.is_integer():
        return int(x)
    return x


def _kind(x: object) -> str:
    if x is None:
        return "null"
    names = {bool: "boolean", str: "string", list: "array", dict: "object", Promise: "promise"}
    return names.get(type(x), "function")


def _big_int_to_float(x: int) -> float:
    """An integer beyond 2**53 becomes the double JavaScript would hold."""
    try:
        return float(x)
    except OverflowError:
        _range_error("the result is not a finite number")


def format_number(x: Number) -> str:
    """``String(x)`` for a number, exactly as JavaScript prints it."""
    if type(x) is int:
        if -SAFE_INTEGER <= x <= SAFE_INTEGER:
            return str(x)
        try:
            x = float(x)
        except OverflowError:
            return "Infinity" if x > 0 else "-Infinity"
    if x != x:
        return "NaN"
    if x in (math.inf, -math.inf):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"  # also -0, as JavaScript prints it
    if -SAFE_INTEGER <= x <= SAFE_INTEGER and float(x).is_integer():
        return str(int(x))
    sign = "-" if x < 0 else ""
    return sign + _layout(*_shortest_digits(abs(x)))


def _shortest_digits(x: float) -> tuple[str, int]:
    """(digits, n) with x = 0.digits * 10**n: the shortest round-trip digits, no zeros at ends."""
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def _layout(digits: str, n: int) -> str:
    """ECMAScript Number::toString step 6-10 for k digits and decimal exponent n."""
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_text = ("+" if exponent >= 0 else "-") + str(abs(exponent))
    if k == 1:
        return digits + "e" + exp_text
    return digits[0] + "." + digits[1:] + "e" + exp_text


def string_to_number(text: str) -> Number:
    """``Number(text)``: JavaScript's StringToNumber; anything that would be NaN is a RangeError."""
    s = text.strip(JS_WHITESPACE)
    if s == "":
        return 0
    radix = _PREFIXED_INTEGER.get(s[:2].lower())
    if radix is not None:
        body = s[2:]
        if body and all(c in _DIGITS[:radix] for c in body.lower()):
            return num(int(body, radix))
    elif _DECIMAL_LITERAL.match(s):
        return num(float(s))
    _range_error(f"cannot convert {_quote(text)} to a number")


def parse_float(text: str) -> Number:
    """``parseFloat(text)``: the longest decimal prefix after leading white space."""
    s = text.lstrip(JS_WHITESPACE)
    match = _FLOAT_PREFIX.match(s)
    if match is None:
        _range_error(f"parseFloat({_quote(text)}) is not a number")
    if match.group().lstrip("+-") == "Infinity":
        _range_error(f"parseFloat({_quote(text)}) is not a finite number")
    return num(float(match.group()))


def parse_int(text: str, radix: int) -> Number:
    """``parseInt(text, radix)`` with ``radix`` already an integer (0 means "decide")."""
    s = text.lstrip(JS_WHITESPACE)
    negative = s.startswith("-")
    if s[:1] in ("+", "-"):
        s = s[1:]
    strip_prefix = True
    if radix != 0:
        if not 2 <= radix <= 36:
            _range_error(f"parseInt radix must be between 2 and 36, got {radix}")
        strip_prefix = radix == 16
    else:
        radix = 10
    if strip_prefix and s[:2] in ("0x", "0X"):
        s, radix = s[2:], 16
    allowed = _DIGITS[:radix]
    end = 0
    while end < len(s) and s[end].lower() in allowed:
        end += 1
    if end == 0:
        _range_error(f"parseInt({_quote(text)}) is not a number")
    digits = s[:end].lstrip("0") or "0"
    if len(digits) * math.log2(radix) > 1100:  # beyond any double: also avoids huge int parsing
        _range_error(f"parseInt({_quote(text)}) is not a finite number")
    value = int(digits, radix)
    return num(-value if negative else value)


def to_integer(x: Number) -> int:
    """ECMAScript ToIntegerOrInfinity for a finite number: truncate toward zero."""
    return x if type(x) is int else int(x)


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
