"""Rhythm's one typed settings object and where its values come from.

Precedence, highest first: explicit overrides (CLI flags, ``load_settings(**overrides)``),
environment variables (``RHYTHM_*``), the project file (``rhythm.toml``, else the
``[tool.rhythm]`` table of ``pyproject.toml``), then defaults. The project folder is the
nearest folder, walking up from the current directory, that holds ``rhythm.toml`` or
``pyproject.toml``; without one it is the current directory. Every setting is documented
in docs/configuration.md; a bad value raises :class:`ConfigError` with one clear line.

Only the standard library is imported here, so any layer may read settings.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhythm.errors import ConfigError

PROJECT_FILES = ("rhythm.toml", "pyproject.toml")
# Tables (and keys) of the project file that are not settings: read by their own commands.
PROJECT_TABLES = ("queues", "schedules", "retention", "tasks")
QUEUE_KEYS = ("rate_limit", "paused", "task_retention", "workflow_retention")
SCHEDULE_KEYS = ("cron", "workflow", "task", "inputs", "timezone", "catch_up", "queue",
                 "paused")
RETENTION_KEYS = ("tasks", "workflows", "cleanup_interval")


def _optional_url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    url = value.strip()
    if url.startswith(("postgresql://", "postgres://")) or "=" in url:
        return url
    raise ValueError("must be a postgresql:// URL or a libpq 'key=value' string")


def _optional_path(value: Any) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise ValueError("must be a path")
    return Path(value).expanduser()


def _port(value: Any) -> int:
    port = _integer(value)
    if not 0 <= port <= 65535:
        raise ValueError("must be a TCP port between 1 and 65535, or 0 to pick a free one")
    return port


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None


def _positive_int(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError("must be a positive integer")
    return number


def _username(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not value.replace("-", "").isalnum():
        raise ValueError("must be a user name (letters, digits and '-')")
    return value.strip()


def _meta(parse: Callable[[Any], Any], env: str, doc: str) -> dict[str, Any]:
    return {"parse": parse, "env": env, "doc": doc}


@dataclass(frozen=True)
class Settings:
    """Every knob Rhythm reads. Build it with :func:`load_settings`, never by hand."""

    database_url: str | None = field(
        default=None, metadata=_meta(_optional_url, "RHYTHM_DATABASE_URL",
        "Postgres to use; unset means the embedded server under `home`."),
    )
    home: Path | None = field(
        default=None, metadata=_meta(_optional_path, "RHYTHM_HOME",
        "Folder for the embedded server's data; default `<project>/.rhythm`."),
    )
    embedded_port: int = field(
        default=0, metadata=_meta(_port, "RHYTHM_EMBEDDED_PORT",
        "TCP port of the embedded server on 127.0.0.1; 0 picks a free one and keeps it."),
    )
    embedded_max_connections: int = field(
        default=200, metadata=_meta(_positive_int, "RHYTHM_EMBEDDED_MAX_CONNECTIONS",
        "max_connections written when the embedded server is first initialised."),
    )
    embedded_user: str = field(
        default="rhythm-postgres", metadata=_meta(_username, "RHYTHM_EMBEDDED_USER",
        "System user that runs the embedded server when Rhythm runs as root."),
    )
    postgres_bin: Path | None = field(
        default=None, metadata=_meta(_optional_path, "RHYTHM_POSTGRES_BIN",
        "Folder holding initdb/pg_ctl/postgres; default: the pgserver package's binaries."),
    )
    project_dir: Path = field(default_factory=Path.cwd, metadata={"derived": True})

    @property
    def home_dir(self) -> Path:
        """The resolved embedded-server folder (``home`` or ``<project>/.rhythm``)."""
        if self.home is None:
            return self.project_dir / ".rhythm"
        return self.home if self.home.is_absolute() else self.project_dir / self.home

    @property
    def uses_embedded(self) -> bool:
        """True when no real database URL is configured."""
        return self.database_url is None


def setting_fields() -> list[dataclasses.Field[Any]]:
    """The user-facing settings (every field except derived ones), in declaration order."""
    return [f for f in dataclasses.fields(Settings) if not f.metadata.get("derived")]


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest folder from ``start`` upwards holding rhythm.toml or pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / name).is_file() for name in PROJECT_FILES):
            return folder
    return here


def read_project_file(project_dir: Path) -> tuple[dict[str, Any], str]:
    """The raw Rhythm table of the project and a label naming where it came from."""
    rhythm_toml = project_dir / "rhythm.toml"
    if rhythm_toml.is_file():
        return _read_toml(rhythm_toml), str(rhythm_toml)
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("rhythm", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{pyproject}: [tool.rhythm] must be a table")
        return table, f"{pyproject} [tool.rhythm]"
    return {}, "defaults"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from err
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from err


def load_settings(
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve every setting. ``overrides`` (e.g. CLI flags) win; ``None`` means "not given"."""
    env = os.environ if environ is None else environ
    project_dir = find_project_dir(cwd)
    file_values, file_label = read_project_file(project_dir)
    file_values = {k: v for k, v in file_values.items() if k not in PROJECT_TABLES}
    known = {f.name: f for f in setting_fields()}
    _reject_unknown(file_values, known, file_label)
    _reject_unknown(overrides, known, "load_settings()")
    values: dict[str, Any] = {"project_dir": project_dir}
    for name, spec in known.items():
        raw, source = _pick(name, spec.metadata["env"], overrides, env, file_values, file_label)
        if source is None:
            continue
        try:
            values[name] = spec.metadata["parse"](raw)
        except ValueError as err:
            raise ConfigError(f"{source}: {name} {err} (got {raw!r})") from None
    return Settings(**values)


def _pick(
    name: str,
    env_name: str,
    overrides: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, Any],
    file_label: str,
) -> tuple[Any, str | None]:
    if overrides.get(name) is not None:
        return overrides[name], f"option --{name.replace('_', '-')}"
    if env_name in env:
        return env[env_name], f"environment variable {env_name}"
    if name in file_values:
        return file_values[name], f"{file_label}"
    return None, None


def _reject_unknown(values: Mapping[str, Any], known: Mapping[str, Any], label: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{label}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )


def read_queue_tables(project_dir: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """The project file's ``[queues.NAME]`` tables (``rate_limit = "100/s"``,
    ``paused = false``), checked for shape (the rate spec is checked by the command that
    applies them: ``rhythm queue set``), and where they came from."""
    queues, label = _named_tables(project_dir, "queues", QUEUE_KEYS)
    for name, table in queues.items():
        if "paused" in table and not isinstance(table["paused"], bool):
            raise ConfigError(f"{label}: queues.{name}.paused must be true or false")
        if "rate_limit" in table and not isinstance(table["rate_limit"], str):
            raise ConfigError(f"{label}: queues.{name}.rate_limit must be a string "
                              f"such as \"100/s\" or \"none\"")
        for key in ("task_retention", "workflow_retention"):
            _check_duration_shape(table, key, f"{label}: queues.{name}.{key}")
    return queues, label


def read_schedule_tables(project_dir: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """The project file's ``[schedules.NAME]`` tables (keys :data:`SCHEDULE_KEYS`),
    checked for shape only (the values are checked by ``rhythm schedule apply``, which
    applies them: rhythm.lifecycle.schedules.make_spec), and where they came from."""
    return _named_tables(project_dir, "schedules", SCHEDULE_KEYS)


def _named_tables(project_dir: Path, section: str, keys: Sequence[str]
                  ) -> tuple[dict[str, dict[str, Any]], str]:
    """The project file's ``[SECTION.NAME]`` tables, each a table of known ``keys``
    only, and where they came from."""
    values, label = read_project_file(project_dir)
    tables = values.get(section, {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{label}: {section} must be a table of [{section}.NAME] tables")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{label}: {section}.{name} must be a table")
        _known_keys_only(table, keys, f"{label}: {section}.{name}")
    return tables, label


def _known_keys_only(table: Mapping[str, Any], keys: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(keys)})")


def read_task_modules(project_dir: Path) -> tuple[list[str], str]:
    """The project file's ``tasks = ["app.tasks", ...]``: modules that declare tasks."""
    raw, label = read_project_file(project_dir)
    modules = raw.get("tasks", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise ConfigError(f"{label}: 'tasks' must be a list of module names")
    return list(modules), label


def read_retention_table(project_dir: Path) -> tuple[dict[str, Any], str]:
    """The project file's ``[retention]`` table (``tasks = "7d"``, ``workflows = "30d"``,
    ``cleanup_interval = "5m"``), checked for shape (the durations are read by
    :mod:`rhythm.lifecycle.retention`), and where it came from."""
    values, label = read_project_file(project_dir)
    table = values.get("retention", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{label}: retention must be a table ([retention])")
    _known_keys_only(table, RETENTION_KEYS, f"{label}: retention")
    for key in RETENTION_KEYS:
        _check_duration_shape(table, key, f"{label}: retention.{key}")
    return table, label


def _check_duration_shape(table: Mapping[str, Any], key: str, where: str) -> None:
    value = table.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise ConfigError(f"{where} must be a duration such as \"7d\", \"12h\" or \"90s\"")
