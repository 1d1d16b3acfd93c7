"""Generic traversal helpers over the AST: the direct child nodes of any node.

Passes that only care about a few node types (scope resolution, static checks) handle
those explicitly and fall back to :func:`children` for everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

from rhythm.frontend import ast as A

_NODE_FIELDS: dict[type, tuple[str, ...]] = {}
_SKIPPED = {"span", "property_span"}


def _node_fields(cls: type) -> tuple[str, ...]:
    names = _NODE_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls) if f.name not in _SKIPPED)
        _NODE_FIELDS[cls] = names
    return names


def children(node: Any) -> Iterator[Any]:
    """Yield the AST nodes directly inside ``node`` (in source order)."""
    for name in _node_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, tuple):
            for item in value:
                if hasattr(item, "span"):
                    yield item
        elif hasattr(value, "span"):
            yield value


def pattern_names(pattern: A.Pattern | None) -> Iterator[A.Name]:
    """Every name a pattern binds, left to right."""
    if pattern is None:
        return
    if isinstance(pattern, A.Name):
        yield pattern
    elif isinstance(pattern, A.ObjectPattern):
        for prop in pattern.props:
            yield from pattern_names(prop.target)
    else:
        for elem in pattern.elements:
            yield from pattern_names(elem.target)
