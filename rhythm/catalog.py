"""The catalogue of .flow built-ins: names, members and argument counts.

Pure data, imported by both sides: the front end checks names, members and argument
counts against it (spec section 9), and the flow runtime implements exactly these.
It imports nothing, so it costs nothing to either side.

An arity is ``(min, max)``; ``max`` is None for "any number".
"""

from __future__ import annotations

Arity = tuple[int, int | None]

# Global objects whose members are functions: global -> member -> arity.
NAMESPACES: dict[str, dict[str, Arity]] = {
    "Task": {"run": (1, 3)},
    "Workflow": {"run": (1, 3)},
    "Timer": {"delay": (1, 1), "until": (1, 1)},
    "Signal": {"next": (1, 2), "when": (1, 2)},
    "Promise": {"all": (1, 1), "allSettled": (1, 1), "race": (1, 1), "any": (1, 1)},
    "Math": {
        "abs": (1, 1),
        "floor": (1, 1),
        "ceil": (1, 1),
        "round": (1, 1),
        "trunc": (1, 1),
        "sign": (1, 1),
        "min": (0, None),
        "max": (0, None),
        "pow": (2, 2),
        "sqrt": (1, 1),
        "random": (0, 0),
    },
    "Date": {"now": (0, 0)},
    "JSON": {"stringify": (1, 3), "parse": (1, 1)},
    "Object": {"keys": (1, 1), "values": (1, 1), "entries": (1, 1)},
    "Array": {"isArray": (1, 1)},
    "console": {"log": (0, None)},
}

# Non-function members of namespaces (read as values): global -> member names.
NAMESPACE_CONSTANTS: dict[str, frozenset[str]] = {
    "Math": frozenset({"PI"}),
}

# Global functions called directly: name -> arity.
FUNCTIONS: dict[str, Arity] = {
    "String": (0, 1),
    "Number": (0, 1),
    "Boolean": (0, 1),
    "parseInt": (1, 2),
    "parseFloat": (1, 1),
    # compatibility helpers for older documents
    "task": (1, 3),  # task(name, inputs) is Task.run(name, inputs)
    "sleep": (1, 1),  # sleep(seconds) is Timer.delay(seconds)
}

# Global values: the inputs object and the execution context.
VALUES: frozenset[str] = frozenset({"Inputs", "Context"})

# Fields of Context; reading another member is a compile error.
CONTEXT_FIELDS: frozenset[str] = frozenset({"executionId", "workflowName", "version", "startedAt"})

# Every name that cannot be declared or assigned.
BUILTIN_NAMES: frozenset[str] = frozenset(NAMESPACES) | frozenset(FUNCTIONS) | VALUES

RESERVED_WORDS: frozenset[str] = frozenset(
    {
        *("let", "const", "if", "else", "while", "do", "for", "of", "in", "break"),
        *("continue", "return", "try", "catch", "finally", "throw", "await", "async"),
        *("function", "true", "false", "null", "typeof"),
    }
)

# Methods on values (dispatched at run time on the receiver's type): name -> arity.
STRING_METHODS: dict[str, Arity] = {
    "includes": (1, 2),
    "startsWith": (1, 2),
    "endsWith": (1, 2),
    "indexOf": (1, 2),
    "slice": (0, 2),
    "substring": (1, 2),
    "toUpperCase": (0, 0),
    "toLowerCase": (0, 0),
    "trim": (0, 0),
    "split": (0, 2),
    "replace": (2, 2),
    "replaceAll": (2, 2),
    "padStart": (1, 2),
    "padEnd": (1, 2),
    "repeat": (1, 1),
}

ARRAY_METHODS: dict[str, Arity] = {
    "includes": (1, 2),
    "indexOf": (1, 2),
    "join": (0, 1),
    "slice": (0, 2),
    "concat": (0, None),
    "push": (0, None),
    "pop": (0, 0),
    "shift": (0, 0),
    "unshift": (0, None),
    "reverse": (0, 0),
    "sort": (0, 1),
    "map": (1, 1),
    "filter": (1, 1),
    "find": (1, 1),
    "findIndex": (1, 1),
    "some": (1, 1),
    "every": (1, 1),
    "reduce": (1, 2),
    "forEach": (1, 1),
    "flatMap": (1, 1),
}

# Array methods whose first argument is an arrow callback (arrows exist only here).
CALLBACK_METHODS: frozenset[str] = frozenset(
    {"map", "filter", "find", "findIndex", "some", "every", "reduce", "forEach", "flatMap", "sort"}
)

# Error names of spec section 8.
ERROR_NAMES: frozenset[str] = frozenset(
    {
        "TypeError",
        "RangeError",
        "SyntaxError",
        "TaskError",
        "ChildWorkflowError",
        "TimeoutError",
        "CancelledError",
        "AggregateError",
        "LimitError",
    }
)
