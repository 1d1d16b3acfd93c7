"""Diagnostics: one compile error at a source position, and how it is shown to people and tools.

A diagnostic is plain data (path, 1-based line and column of the first character, line and
column one past the last, message). Rendering it needs the source text, to print the offending
line with carets under the token; tools get a JSON dict instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rhythm.frontend.ast import Span


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A compile error at ``path:line:column`` (1-based); ``end_*`` is one past the end."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str

    @classmethod
    def at(cls, path: str, span: Span, message: str) -> Diagnostic:
        return cls(path, span.line, span.column, span.end_line, span.end_column, message)

    def headline(self) -> str:
        """``path:line:col: message`` (the first line of :meth:`render`)."""
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def render(self, source: str | None) -> str:
        """The headline, then the source line and carets under the offending token."""
        if source is None:
            return self.headline()
        lines = source.splitlines()
        if not 1 <= self.line <= len(lines):
            return self.headline()
        text = lines[self.line - 1]
        start = min(self.column - 1, len(text))
        if self.end_line == self.line:
            width = max(1, self.end_column - self.column)
        else:
            width = max(1, len(text) - start)
        # Keep tabs so that the carets line up with the source line in a terminal.
        indent = "".join(ch if ch == "\t" else " " for ch in text[:start])
        return f"{self.headline()}\n    {_visible(text)}\n    {indent}{'^' * width}"

    def to_json(self) -> dict[str, str | int]:
        return asdict(self)


def _visible(line: str) -> str:
    """The line with control characters shown as their Unicode pictures (one column each,
    so the carets still line up): a raw ESC must not drive the user's terminal."""
    return line.translate(_PICTURES)


_PICTURES = {code: 0x2400 + code for code in range(0x20) if code != 0x09} | {0x7F: 0x2421}


def sort_key(diag: Diagnostic) -> tuple[str, int, int, str]:
    return (diag.path, diag.line, diag.column, diag.message)


def unique_sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in source order, each reported once."""
    return sorted(set(diags), key=sort_key)
