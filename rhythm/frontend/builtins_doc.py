"""The documentation of every .flow built-in: one table that hover and the docs share.

``rhythm lsp`` shows these entries on hover and in completion; docs/builtins.md is
generated from them (``python -m rhythm.frontend.builtins_doc > docs/builtins.md``) and a
test fails when the file and this table drift apart, or when a name of the catalogue
(rhythm/catalog.py) has no entry here.

Keys: a global (``Task``, ``Inputs``), a namespace member (``Task.run``), a field of
``Context`` (``Context.executionId``), or a method on values (``string.trim``,
``array.map``; ``length`` is under both).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinDoc:
    """How a built-in is called and what it does (one or two sentences of Markdown)."""

    signature: str
    doc: str


def _d(signature: str, doc: str) -> BuiltinDoc:
    return BuiltinDoc(signature, doc)


GLOBALS: dict[str, BuiltinDoc] = {
    "Inputs": _d("Inputs", "The execution's input object (`{}` when none was given). "
                 "`workflow(ctx, inputs)` names it `inputs`."),
    "Context": _d("Context", "The execution context: `executionId`, `workflowName`, `version`, "
                  "`startedAt` (no other fields). `workflow(ctx, inputs)` names it `ctx`."),
    "Task": _d("Task", "Runs Python tasks: `Task.run(name, inputs, options)`."),
    "Workflow": _d("Workflow", "Starts child workflows: `Workflow.run(name, inputs, options)`."),
    "Timer": _d("Timer", "Durable timers: `Timer.delay(duration)`, `Timer.until(isoTime)`."),
    "Signal": _d("Signal", "Waits for signals sent to the execution: `Signal.next(name)`."),
    "Promise": _d("Promise", "Combinators over promises: `all`, `allSettled`, `race`, `any`."),
    "Math": _d("Math", "Numeric functions and the constant `PI`."),
    "Date": _d("Date", "Only `Date.now()`: the current time in epoch milliseconds."),
    "JSON": _d("JSON", "`JSON.stringify` and `JSON.parse`."),
    "Object": _d("Object", "`Object.keys`, `Object.values`, `Object.entries`."),
    "Array": _d("Array", "Only `Array.isArray(x)`."),
    "console": _d("console", "Only `console.log(...)`."),
    "String": _d("String(x)", "Converts a value to text as JavaScript does."),
    "Number": _d("Number(x)", "Converts a value to a number by JavaScript's rules; where "
                 "JavaScript gives NaN, a `RangeError`."),
    "Boolean": _d("Boolean(x)", "Converts a value to `true` or `false` by truthiness."),
    "parseInt": _d("parseInt(text, radix = 10)", "The integer at the start of `text`."),
    "parseFloat": _d("parseFloat(text)", "The number at the start of `text`."),
    "task": _d("task(name, inputs = {}, options = {})", "Older spelling of `Task.run`."),
    "sleep": _d("sleep(seconds)", "Older spelling of `Timer.delay`."),
}

MEMBERS: dict[str, BuiltinDoc] = {
    "Task.run": _d("Task.run(name, inputs = {}, options = {})",
                   "Promise of the Python task's result. Options: `queue`, `timeout` "
                   "(duration), `retries`, `priority`, `idempotencyKey`. A task that still "
                   "fails after its retries makes the `await` throw a `TaskError`."),
    "Workflow.run": _d("Workflow.run(name, inputs = {}, options = {})",
                       "Promise of a child workflow's result (`name` is the child's workflow "
                       "name, e.g. `billing/charge`); a failed child throws "
                       "`ChildWorkflowError`."),
    "Timer.delay": _d("Timer.delay(duration)",
                      "Promise resolving to `null` after a duration: seconds, or a string "
                      "such as `\"30s\"`, `\"5m\"`, `\"1h30m\"`."),
    "Timer.until": _d("Timer.until(isoTime)",
                      "Promise resolving to `null` at an absolute UTC time."),
    "Signal.next": _d("Signal.next(name, options = {})",
                      "Promise of the next payload on signal channel `name` (FIFO; signals "
                      "sent before anyone waits are kept). `{ timeout: duration }` makes the "
                      "await throw `TimeoutError`."),
    "Signal.when": _d("Signal.when(name, options = {})", "Another spelling of `Signal.next`."),
    "Promise.all": _d("Promise.all(promises)",
                      "All values, in order (an object of promises gives an object with the "
                      "same keys); throws the first error."),
    "Promise.allSettled": _d("Promise.allSettled(promises)",
                             "Every outcome as `{ status, value }` or `{ status, reason }`; "
                             "never throws."),
    "Promise.race": _d("Promise.race(promises)", "The first promise to settle, value or error."),
    "Promise.any": _d("Promise.any(promises)",
                      "The first value; an `AggregateError` when every promise fails."),
    "Math.abs": _d("Math.abs(x)", "Absolute value."),
    "Math.floor": _d("Math.floor(x)", "Largest integer not above `x`."),
    "Math.ceil": _d("Math.ceil(x)", "Smallest integer not below `x`."),
    "Math.round": _d("Math.round(x)", "Nearest integer (halves round up, as in JavaScript)."),
    "Math.trunc": _d("Math.trunc(x)", "Integer part of `x`."),
    "Math.sign": _d("Math.sign(x)", "`-1`, `0` or `1`."),
    "Math.min": _d("Math.min(...xs)", "Smallest argument; none is a `RangeError`."),
    "Math.max": _d("Math.max(...xs)", "Largest argument; none is a `RangeError`."),
    "Math.pow": _d("Math.pow(x, y)", "`x` to the power `y` (same as `x ** y`)."),
    "Math.sqrt": _d("Math.sqrt(x)", "Square root."),
    "Math.random": _d("Math.random()",
                      "A number in [0, 1)."),
    "Math.PI": _d("Math.PI", "The constant π."),
    "Date.now": _d("Date.now()", "The current time in epoch milliseconds."),
    "JSON.stringify": _d("JSON.stringify(value, replacer = null, indent)",
                         "JSON text of a value."),
    "JSON.parse": _d("JSON.parse(text)", "The value of JSON text; `SyntaxError` if it is not."),
    "Object.keys": _d("Object.keys(obj)", "The object's keys, in insertion order."),
    "Object.values": _d("Object.values(obj)", "The object's values, in key order."),
    "Object.entries": _d("Object.entries(obj)", "`[key, value]` pairs, in key order."),
    "Array.isArray": _d("Array.isArray(x)", "Whether `x` is an array."),
    "console.log": _d("console.log(...values)",
                      "Writes to the worker's log, tagged with the execution id."),
    "Context.executionId": _d("Context.executionId", "The id of this execution."),
    "Context.workflowName": _d("Context.workflowName", "The workflow's name."),
    "Context.version": _d("Context.version", "The workflow's version (hash of its source)."),
    "Context.startedAt": _d("Context.startedAt",
                            "When the execution started: ISO 8601 text in UTC."),
}

_STRING = {
    "length": ("length", "Number of UTF-16 code units, as in JavaScript."),
    "includes": ("includes(text, from = 0)", "Whether `text` occurs in the string."),
    "startsWith": ("startsWith(text, at = 0)", "Whether the string starts with `text`."),
    "endsWith": ("endsWith(text, end = length)", "Whether the string ends with `text`."),
    "indexOf": ("indexOf(text, from = 0)", "First position of `text`, or -1."),
    "slice": ("slice(start = 0, end = length)", "Part of the string; negatives count from "
              "the end."),
    "substring": ("substring(start, end = length)", "Part of the string between two indexes."),
    "toUpperCase": ("toUpperCase()", "The string in upper case."),
    "toLowerCase": ("toLowerCase()", "The string in lower case."),
    "trim": ("trim()", "The string without leading and trailing white space."),
    "split": ("split(separator, limit)", "Array of the parts between separators."),
    "replace": ("replace(text, by)", "Replaces the first occurrence of `text` (no regexes)."),
    "replaceAll": ("replaceAll(text, by)", "Replaces every occurrence of `text`."),
    "padStart": ("padStart(length, fill = \" \")", "Pads at the start to `length`."),
    "padEnd": ("padEnd(length, fill = \" \")", "Pads at the end to `length`."),
    "repeat": ("repeat(count)", "The string repeated `count` times."),
}

_ARRAY = {
    "length": ("length", "Number of elements."),
    "includes": ("includes(value, from = 0)", "Whether a deeply equal value is in the array."),
    "indexOf": ("indexOf(value, from = 0)", "First index of the value (strict equality), "
                "or -1."),
    "join": ("join(separator = \",\")", "The elements as text, joined."),
    "slice": ("slice(start = 0, end = length)", "A copy of part of the array."),
    "concat": ("concat(...items)", "A new array with the items (arrays are spread) appended."),
    "push": ("push(...items)", "Appends items; gives the new length."),
    "pop": ("pop()", "Removes and gives the last element (`null` when empty)."),
    "shift": ("shift()", "Removes and gives the first element (`null` when empty)."),
    "unshift": ("unshift(...items)", "Prepends items; gives the new length."),
    "reverse": ("reverse()", "Reverses the array in place."),
    "sort": ("sort(compare)", "Sorts in place: numbers numerically, strings by code point, "
             "or with an arrow comparator."),
    "map": ("map(x => ...)", "A new array of the callback's results."),
    "filter": ("filter(x => ...)", "The elements for which the callback is truthy."),
    "find": ("find(x => ...)", "The first element for which the callback is truthy, or null."),
    "findIndex": ("findIndex(x => ...)", "Index of the first match, or -1."),
    "some": ("some(x => ...)", "Whether the callback is truthy for some element."),
    "every": ("every(x => ...)", "Whether the callback is truthy for every element."),
    "reduce": ("reduce((acc, x) => ..., initial)", "Folds the array into one value."),
    "forEach": ("forEach(x => ...)", "Calls the callback on each element."),
    "flatMap": ("flatMap(x => ...)", "`map`, then one level of flattening."),
}

METHODS: dict[str, BuiltinDoc] = {
    **{f"string.{name}": _d(sig, doc) for name, (sig, doc) in _STRING.items()},
    **{f"array.{name}": _d(sig, doc) for name, (sig, doc) in _ARRAY.items()},
}


def lookup(key: str) -> BuiltinDoc | None:
    """The entry of a global, ``Global.member`` or ``string.x``/``array.x``, if any."""
    return GLOBALS.get(key) or MEMBERS.get(key) or METHODS.get(key)


def method_docs(name: str) -> list[BuiltinDoc]:
    """The string and array methods called ``name`` (a receiver's type is unknown)."""
    return [doc for kind in ("string", "array") if (doc := METHODS.get(f"{kind}.{name}"))]


def render_markdown() -> str:
    """docs/builtins.md: every entry, grouped, in the table's order."""
    lines = [
        "# .flow built-ins reference",
        "",
        "<!-- Generated from rhythm/frontend/builtins_doc.py: edit that table, then run",
        "     python -m rhythm.frontend.builtins_doc > docs/builtins.md -->",
        "",
        "The same text is what `rhythm lsp` shows on hover (see [editors](editors.md)); the",
        "language guide explains how built-ins behave: [language](language.md#built-ins).",
    ]
    groups = (("Globals", GLOBALS), ("Members", MEMBERS), ("Methods on values", METHODS))
    for title, table in groups:
        lines += ["", f"## {title}", "", "| built-in | what it does |", "|---|---|"]
        for key, entry in table.items():
            where = f"{key.split('.')[0]}: " if table is METHODS else ""
            cell = entry.doc.replace("|", "\\|")
            lines.append(f"| {where}`{entry.signature}` | {cell} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
