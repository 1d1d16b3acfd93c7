"""Size limits of a .flow source, checked before anything recurses over it.

The compiler turns each level of a .flow expression or block into one or two levels of
nested Python (calls, brackets, indented blocks), and Python refuses deeply nested code
("too many nested parentheses", a RecursionError while compiling). So the front end
rejects what the later passes could not handle, with a positioned error:

- raw control characters (a NUL, an ESC, ...): they do not belong in source text,
  cannot be stored in Postgres (NUL), and an escape (``\\u0000``) says the same in a string;
- nesting deeper than :data:`MAX_NESTING` levels of expressions and blocks, or more than
  :data:`MAX_LOOP_NESTING` loops and ``try`` statements inside each other, counted without
  recursion (so a 5,000-term ``1 + 1 + ... + 1`` is reported, not crashed on).
"""

from __future__ import annotations

import re
from typing import Any

from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.walk import children

MAX_NESTING = 80  # levels of expressions and blocks in one statement/function
# Python allows 20 statically nested loops/try blocks in a function; lowering may add one.
MAX_LOOP_NESTING = 16
_LOOPS = (A.While, A.DoWhile, A.For, A.ForOf, A.ForIn, A.Try)

# C0 controls except tab, line feed, carriage return, vertical tab and form feed (white
# space in JavaScript), and DEL.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def control_characters(source: str, path: str) -> list[Diagnostic]:
    """One diagnostic per raw control character in ``source``."""
    diags = []
    for match in _CONTROL.finditer(source):
        offset = match.start()
        line = source.count("\n", 0, offset) + 1
        column = offset - (source.rfind("\n", 0, offset) + 1) + 1
        code = f"U+{ord(match.group()):04X}"
        diags.append(Diagnostic(
            path, line, column, line, column + 1,
            f"raw control character {code} in the source (write \\u{ord(match.group()):04x} "
            "inside a string instead)",
        ))
    return diags


def too_deep(program: A.Program, path: str) -> Diagnostic | None:
    """A diagnostic at the top-level statement holding a node nested deeper than
    :data:`MAX_NESTING`, or loops and ``try`` statements nested deeper than
    :data:`MAX_LOOP_NESTING`; None when the program is within both."""
    # (node, nesting depth, loop/try depth, the top-level statement holding it)
    stack: list[tuple[Any, int, int, Any]] = [(node, 1, 0, node) for node in program.body]
    while stack:
        node, depth, loops, statement = stack.pop()
        if isinstance(node, _LOOPS):
            loops += 1
        if depth > MAX_NESTING or loops > MAX_LOOP_NESTING:
            what = (
                f"more than {MAX_NESTING} levels of expressions and blocks"
                if depth > MAX_NESTING
                else f"more than {MAX_LOOP_NESTING} loops and try statements inside each other"
            )
            start = statement.span
            return Diagnostic(
                path, start.line, start.column, start.line, start.column + 1,
                f"nested too deeply: {what} (split it with intermediate constants or "
                "functions)",
            )
        stack.extend((child, depth + 1, loops, statement) for child in children(node))
    return None
