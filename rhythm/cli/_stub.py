"""Commands that are documented but not built yet say so plainly (exit code 2)."""

from __future__ import annotations

from rhythm.errors import NotBuiltYet


def not_built(command: str, issue: str) -> None:
    raise NotBuiltYet(f"'rhythm {command}' is not built yet ({issue}); see README.md")
