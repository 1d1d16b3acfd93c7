"""JSON payloads crossing the database boundary: validation, encoding, size limits.

Inputs, signal payloads and results are stored as json (not jsonb: the text, hence
the key order, is kept; migration 0005). Anything that cannot be
stored faithfully (not JSON, NaN/Infinity, NUL characters, too large) is refused
here with one clear line (:class:`InputError`) before it reaches Postgres.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rhythm.errors import InputError
from rhythm.flowrt.values import MAX_DEPTH, nesting_exceeds

MAX_PAYLOAD_BYTES = 1 << 20  # 1 MiB per inputs object, signal payload or result
# A \u0000 escape in JSON text, not a literal backslash followed by "u0000".
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


# What json.dumps(value, **these options) builds on every call: one encoder, made once
# (every task result and outcome passes through here).
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def encode(value: Any, what: str, *, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The JSON text of ``value``, or InputError saying why it cannot be stored."""
    try:
        text = _ENCODER.encode(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{what} is not JSON: {_reason(err)}") from err
    except RecursionError as err:
        raise InputError(_too_deep(what)) from err
    refuse_deep(value, text, what)
    if "\\u0000" in text and _ESCAPED_NUL.search(text):
        raise InputError(f"{what} contains a NUL character (U+0000), which Postgres cannot store")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise InputError(
            f"{what} contains a lone surrogate ({text[err.start]!a}), which is not Unicode "
            "text and cannot be stored") from err
    if size > limit:
        raise InputError(f"{what} is {size} bytes of JSON, over the limit of {limit} bytes")
    return text


def encode_object(value: Any, what: str, *, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """Like :func:`encode`, for inputs: ``None`` means ``{}``; anything else must be an object."""
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, got {type(value).__name__}")
    return encode(value, what, limit=limit)


def refuse_deep(value: Any, text: str, what: str) -> None:
    """InputError when ``value`` (parsed from, or encoded as, ``text``) nests deeper than
    a workflow value may."""
    if _may_nest_deeply(text) and nesting_exceeds(value, MAX_DEPTH):
        raise InputError(_too_deep(what))


def _may_nest_deeply(text: str) -> bool:
    """A cheap pre-test (C speed): too few brackets to nest past the limit."""
    return text.count("[") + text.count("{") > MAX_DEPTH


def _too_deep(what: str) -> str:
    return f"{what} is nested more than {MAX_DEPTH} levels deep (the limit of workflow values)"


def _reason(err: Exception) -> str:
    message = str(err)
    if "Out of range float" in message:
        return "NaN and Infinity are not JSON numbers"
    return message
