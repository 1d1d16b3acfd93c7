"""The one reader of JSON given on the command line (``--inputs``, ``--payload``).

Every command takes the value the same way: JSON text, ``@FILE`` (read from a file) or
``-`` (read from stdin), and refuses a bad one the same way: one line naming the option
(and the file), exit code 2 (bad usage, docs/cli.md).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rhythm.errors import EXIT_USAGE, InputError
from rhythm.runtime.payloads import refuse_deep


class BadJsonOption(InputError):
    """A JSON option that cannot be read or parsed, or is not the kind of value wanted."""

    exit_code = EXIT_USAGE


_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
          int: "a number", float: "a number"}


def json_value(text: str | None, option: str, *, want_object: bool = False) -> Any:
    """The value of ``option`` (``None`` when not given): ``text`` is JSON, ``@FILE`` or
    ``-`` (stdin). With ``want_object`` only a JSON object is accepted."""
    if text is None:
        return None
    source, what = _source(text, option)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as err:
        raise BadJsonOption(f"{what} is not valid JSON: {err.msg} at line {err.lineno} "
                            f"column {err.colno}") from err
    except RecursionError as err:
        raise BadJsonOption(f"{what} is nested too deeply") from err
    except ValueError as err:  # an integer with more digits than Python converts
        raise BadJsonOption(f"{what} is not valid JSON: {err}") from err
    try:
        refuse_deep(value, source, what)
    except InputError as err:
        raise BadJsonOption(str(err)) from err
    if want_object and not isinstance(value, dict):
        raise BadJsonOption(f"{what} must be a JSON object, not {_KINDS[type(value)]}")
    return value


def _source(text: str, option: str) -> tuple[str, str]:
    """(JSON text, how to name it in an error)."""
    if text == "-":
        return sys.stdin.read(), f"{option} (stdin)"
    if text.startswith("@"):
        path = text[1:]
        try:
            with open(path, encoding="utf-8") as file:
                return file.read(), f"{option} {text}"
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise BadJsonOption(f"{option} {text}: cannot read: {reason}") from err
    return text, option


HELP = "JSON, @FILE or - (stdin)"

__all__ = ["HELP", "BadJsonOption", "json_value"]
