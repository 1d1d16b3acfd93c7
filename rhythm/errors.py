"""The one exception tree of Rhythm's Python side.

Every error a user can cause or meet derives from :class:`RhythmError`. Lower layers
raise these (translating library exceptions with ``raise ... from``); the CLI turns
them into one line on stderr and the exit code named by ``exit_code``. Errors inside a
running workflow are *flow values* (see ``rhythm.flowrt``), not these classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Documented exit codes (docs/cli.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the thing asked for failed: errors found, workflow failed, stale build
EXIT_USAGE = 2  # bad command line, or a command that is not built yet
EXIT_ENVIRONMENT = 3  # database unreachable, bad configuration, permissions


class RhythmError(Exception):
    """Base of every Rhythm error. ``str(err)`` is a complete one-line message."""

    exit_code = EXIT_FAILED


class ConfigError(RhythmError):
    """Invalid configuration (flag, environment variable, pyproject/rhythm.toml)."""

    exit_code = EXIT_ENVIRONMENT


class DatabaseError(RhythmError):
    """The database could not be reached or refused an operation."""

    exit_code = EXIT_ENVIRONMENT


class EmbeddedPostgresError(DatabaseError):
    """The embedded Postgres server could not be initialised, started or stopped."""


class MigrationError(DatabaseError):
    """Applying migrations failed, or the schema is newer than this code knows."""


class NotBuiltYet(RhythmError):
    """A documented command or feature that does not exist yet. Never pretend."""

    exit_code = EXIT_USAGE


class CompileError(RhythmError):
    """A .flow file has errors. ``diagnostics`` holds every one of them."""

    def __init__(self, message: str, diagnostics: list[Any] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class InputError(RhythmError):
    """Bad user data: malformed JSON, a payload that is not JSON, oversize input."""


class BadFilter(InputError):
    """A bad selection of executions (``rhythm list``, bulk retry/cancel): a time that is
    neither ISO 8601 nor a duration, ids and filters together, no filter at all. Bad
    usage: exit 2."""

    exit_code = EXIT_USAGE


class UnknownName(RhythmError):
    """An unknown workflow, task, execution id or signal target."""


class WorkflowFailed(RhythmError):
    """A workflow ended failed or cancelled; ``error`` is its stored error (JSON)."""

    def __init__(self, execution_id: str, error: Any) -> None:
        self.execution_id = execution_id
        self.error = error
        name = error.get("name") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        summary = f"{name}: {message}" if name and message else repr(error)
        super().__init__(f"workflow {execution_id} failed: {summary}")


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name``, if one is close enough to suggest."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None

