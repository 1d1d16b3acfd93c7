"""The checker, made fast enough to run on every keystroke of a long workflow.

Parsing is most of the checker's time (parsimonious is a packrat parser in pure Python:
about 1 s for a 500-line file on a busy machine), and an edit usually touches one
statement. So a document is cut into top-level *chunks* (a new chunk starts on a line that
begins, outside any bracket, string, template or comment, with a keyword no expression can
continue with: ``const``, ``let``, ``if``, ``for``...), each chunk is parsed alone and its
statements cached by text (moved to other lines when an edit above adds or removes lines),
and the statements are put back together into the
program the whole file would give. Scope resolution and the static checks then run on the
whole program, exactly as :func:`rhythm.frontend.analyze_source` does.

Whenever the shortcut could disagree with the whole-file parse, the whole file is parsed
instead: a file of one chunk (the ``workflow(ctx, inputs) { ... }`` form, say), and a chunk
that fails to parse at its very end (the statement may go on in the next chunk, and the
whole-file parse reports the error where it really is). tests/unit/lsp/test_incremental.py
checks that both give the same diagnostics on the examples, the golden workflows, the
error cases and the fuzz corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from rhythm.frontend import analyze_source
from rhythm.frontend import ast as A
from rhythm.frontend.checks import check
from rhythm.frontend.diagnostics import Diagnostic, unique_sorted
from rhythm.frontend.limits import control_characters, too_deep
from rhythm.frontend.parser import _Lines, parse
from rhythm.frontend.scopes import Resolution, resolve

Result = tuple[A.Program | None, Resolution | None, list[Diagnostic]]
_STARTS = re.compile(r"(?:const|let|if|for|while|do|return|try|throw|break|continue)(?![\w$])")
_CACHE_LIMIT = 4096


_PLAIN = re.compile(r"[^\"'`/(){}\[\]\n]+")  # characters that cannot change the state
_STRING_BODY = {q: re.compile(rf"(?:[^{q}\\\n]|\\.)*") for q in "\"'"}


def chunks(source: str) -> list[tuple[int, str]]:
    """``(first line, text)`` of each top-level chunk; their texts add up to ``source``."""
    starts = [0]
    depth, index, length = 0, 0, len(source)
    templates: list[int] = []  # bracket depth at each open `${`
    while index < length:
        plain = _PLAIN.match(source, index)
        if plain is not None:
            index = plain.end()
            continue
        char = source[index]
        if char in "\"'":
            body = _STRING_BODY[char].match(source, index + 1)
            index = body.end() if body is not None else index + 1
            if index < length and source[index] == char:
                index += 1  # else the string is cut by a newline: scan that newline too
            continue
        if char == "`" or (char == "}" and templates and templates[-1] == depth):
            if char == "}":
                templates.pop()
            index = _template_end(source, index + 1, templates, depth)
            continue
        if source.startswith("//", index):
            newline = source.find("\n", index)
            index = length if newline < 0 else newline
            continue
        if source.startswith("/*", index):
            close = source.find("*/", index + 2)
            index = length if close < 0 else close + 2
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == "\n" and depth == 0 and not templates:
            text_start = index + 1
            while text_start < length and source[text_start] in " \t":
                text_start += 1
            if _STARTS.match(source, text_start):
                starts.append(index + 1)
        index += 1
    starts = _keep_do_while(source, starts)
    pieces = []
    for first, end in zip(starts, [*starts[1:], length], strict=True):
        pieces.append((source.count("\n", 0, first) + 1, source[first:end]))
    return pieces


def _template_end(source: str, index: int, templates: list[int], depth: int) -> int:
    """Past the end of a template's text part: after its closing backquote, or after a
    ``${`` (then the expression is scanned as code and its ``}`` resumes the text)."""
    length = len(source)
    while index < length:
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if char == "`":
            return index + 1
        if source.startswith("${", index):
            templates.append(depth)
            return index + 2
        index += 1
    return length


def _keep_do_while(source: str, starts: list[int]) -> list[int]:
    """``do { } \\n while (x)``: the ``while`` belongs to the ``do`` before it."""
    kept: list[int] = []
    for start in starts:
        if kept and source[start:].lstrip(" \t").startswith("while") and \
                source[kept[-1]:start].lstrip(" \t").startswith("do"):
            continue
        kept.append(start)
    return kept


@dataclass
class _Chunk:
    """A chunk's parse, with positions as if the chunk began on ``first_line``."""

    first_line: int
    statements: tuple[A.Stmt, ...] | None  # None: a syntax error (in ``diags``)
    diags: list[Diagnostic]
    deep: Diagnostic | bool | None = False  # too_deep's answer; False until asked

    def moved_to(self, first_line: int) -> _Chunk:
        """The same chunk starting on another line (an edit above added or removed lines)."""
        delta = first_line - self.first_line
        statements = None if self.statements is None else _shift(self.statements, delta)
        deep = _shift(self.deep, delta) if isinstance(self.deep, Diagnostic) else self.deep
        return _Chunk(first_line, statements, [_shift(d, delta) for d in self.diags], deep)


def _shift(value: Any, delta: int) -> Any:
    """``value`` (a tree, a diagnostic) with every line number moved by ``delta``. A chunk
    starts at the beginning of a line, so columns never change."""
    if isinstance(value, A.Span):
        return A.Span(value.line + delta, value.column, value.end_line + delta,
                      value.end_column)
    if isinstance(value, Diagnostic):
        return replace(value, line=value.line + delta, end_line=value.end_line + delta)
    if isinstance(value, tuple):
        return tuple(_shift(item, delta) for item in value)
    if not hasattr(value, "span"):
        return value  # str, number, bool, None
    names = _FIELDS.get(type(value))
    if names is None:
        names = _FIELDS[type(value)] = tuple(f.name for f in fields(value))
    return type(value)(*(_shift(getattr(value, name), delta) for name in names))


_FIELDS: dict[type, tuple[str, ...]] = {}


class IncrementalChecker:
    """Analyses of successive versions of documents, re-parsing only the chunks that changed."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, str], _Chunk] = {}  # by (path, chunk text)

    def analyze(self, source: str, path: str) -> Result:
        """What :func:`rhythm.frontend.analyze_source` gives for ``source``, usually sooner."""
        source = source.replace("\r\n", "\n").replace("\r", "\n")
        pieces = chunks(source)
        if len(pieces) < 2 or control_characters(source, path):
            return analyze_source(source, path)
        parsed = [self._chunk(path, first_line, text) for first_line, text in pieces]
        body: list[A.Stmt] = []
        diags: list[Diagnostic] = []
        for (first_line, text), chunk in zip(pieces, parsed, strict=True):
            if chunk.statements is None:
                failure = chunk.diags[0] if chunk.diags else None
                if failure is None or _at_end(failure, first_line, text):
                    return analyze_source(source, path)
                return None, None, chunk.diags
            body.extend(chunk.statements)
            diags.extend(chunk.diags)
        program = A.Program(_Lines(source).span(0, len(source)), tuple(body))
        deep = self._too_deep(path, parsed)
        if deep is not None:
            return None, None, [deep]
        resolution, scope_diags = resolve(program, path)
        diags = diags + scope_diags + check(program, resolution, path)
        return program, resolution, unique_sorted(diags)

    def _too_deep(self, path: str, parsed: list[_Chunk]) -> Diagnostic | None:
        """:func:`too_deep` of the whole program, from each chunk's cached answer. It looks
        at top-level statements one at a time, the last one first: so do the chunks."""
        for chunk in reversed(parsed):
            if chunk.deep is False:
                whole = A.Span(1, 1, 1, 1)  # too_deep reads only the body
                chunk.deep = too_deep(A.Program(whole, chunk.statements or ()), path)
            if isinstance(chunk.deep, Diagnostic):
                return chunk.deep
        return None

    def _chunk(self, path: str, first_line: int, text: str) -> _Chunk:
        key = (path, text)
        cached = self.parsed.get(key)
        if cached is None:
            program, diags = parse("\n" * (first_line - 1) + text, path)
            if program is not None and program.wrapper is not None:
                program = None  # never cut a wrapped file (it is one chunk anyway)
            cached = _Chunk(first_line, program.body if program is not None else None, diags)
            if len(self.parsed) >= _CACHE_LIMIT:
                self.parsed.clear()
        elif cached.first_line != first_line:
            cached = cached.moved_to(first_line)
        self.parsed[key] = cached
        return cached

    def forget(self, path: str) -> None:
        """Drop the cached chunks of a closed document."""
        for key in [k for k in self.parsed if k[0] == path]:
            del self.parsed[key]


def _at_end(diag: Diagnostic, first_line: int, text: str) -> bool:
    """Whether a chunk's syntax error is at its end (its statement may go on after it)."""
    stripped = text.rstrip()
    last_line = first_line + stripped.count("\n")
    last_column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return (diag.line, diag.column) >= (last_line, last_column)
