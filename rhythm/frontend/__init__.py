"""The .flow front end: source text -> checked, position-annotated AST.

Entry points:
- :func:`analyze` parses, resolves and checks one file and returns a :class:`CheckedFlow`,
  or raises :class:`rhythm.errors.CompileError` carrying *every* diagnostic of the file;
- :func:`check_source` returns the diagnostics only (an empty list means the file is fine);
- :func:`workflow_name` and :func:`version_of` name and version a workflow (spec section 1).

The parser (and parsimonious with it) is imported on first use, not at package import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rhythm.errors import CompileError
from rhythm.frontend.diagnostics import Diagnostic, unique_sorted

if TYPE_CHECKING:
    from rhythm.frontend.ast import Program
    from rhythm.frontend.scopes import Resolution

__all__ = [
    "CheckedFlow",
    "Diagnostic",
    "analyze",
    "analyze_source",
    "check_source",
    "version_of",
    "workflow_name",
]


@dataclass(frozen=True)
class CheckedFlow:
    """A .flow file that passed every static check."""

    path: str
    name: str
    version: str
    source: str
    program: Program
    resolution: Resolution


def _run(source: str, path: str) -> tuple[Program | None, Resolution | None, list[Diagnostic]]:
    from rhythm.frontend.checks import check
    from rhythm.frontend.limits import control_characters, too_deep
    from rhythm.frontend.parser import parse
    from rhythm.frontend.scopes import resolve

    source = source.replace("\r\n", "\n").replace("\r", "\n")  # as build and versions see it
    controls = control_characters(source, path)
    if controls:
        return None, None, controls
    program, diags = parse(source, path)
    if program is None:
        return None, None, diags
    deep = too_deep(program, path)
    if deep is not None:  # the passes below recurse over the tree
        return None, None, [deep]
    resolution, scope_diags = resolve(program, path)
    diags = diags + scope_diags + check(program, resolution, path)
    return program, resolution, unique_sorted(diags)


def analyze_source(
    source: str, path: str
) -> tuple[Program | None, Resolution | None, list[Diagnostic]]:
    """The checker's full result for tools (``rhythm lsp``): the tree and resolution when the
    file parses (also when it has other errors), and every diagnostic."""
    return _run(source, path)


def check_source(source: str, path: str) -> list[Diagnostic]:
    """Every diagnostic of one file, in source order (empty when the file is fine)."""
    return _run(source, path)[2]


def analyze(source: str, path: str, name: str | None = None) -> CheckedFlow:
    """Parse and check one file; raise CompileError with all its diagnostics if it has any."""
    program, resolution, diags = _run(source, path)
    if diags or program is None or resolution is None:
        count = len(diags)
        first = diags[0].headline() if diags else f"{path}: cannot be compiled"
        more = f" (and {count - 1} more error{'s' if count > 2 else ''})" if count > 1 else ""
        raise CompileError(f"{first}{more}", diags)
    return CheckedFlow(
        path=path,
        name=name if name is not None else Path(path).stem,
        version=version_of(source),
        source=source,
        program=program,
        resolution=resolution,
    )


def workflow_name(path: str | Path, root: str | Path) -> str:
    """A workflow's name: the file stem, or ``folder/stem`` for files in subfolders of root."""
    relative = Path(path).resolve().relative_to(Path(root).resolve())
    return relative.with_suffix("").as_posix()


def version_of(source: str) -> str:
    """SHA-256 (hex) of the source with line endings normalised to ``\\n``."""
    normalised = source.replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
