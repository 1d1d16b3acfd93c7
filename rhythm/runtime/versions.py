"""Workflow versions a worker knows, their registration, and loading pinned versions.

A version is (name, SHA-256 of the source). A worker collects versions from the modules
of ``generated/`` (``rhythm build`` output, via ``index.json``) and from ``.flow`` folders
it is given (compiled at start), and registers them all at start: the newest
registration of a name is what new starts use (guarantee 5), and the source of every
version is stored. An execution is pinned to the version it started with; a version that
is in the database but not on this worker is compiled from its stored source — the only
time a worker parses ``.flow`` text. The compiler is imported lazily, so a worker that
never needs it does not load the build side.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from rhythm.errors import CompileError, RhythmError, UnknownName
from rhythm.flowrt.protocol import Machine
from rhythm.runtime.database import Connect
from rhythm.runtime.sql import Q

log = logging.getLogger("rhythm.versions")


class VersionUnavailable(RhythmError):
    """A pinned workflow version cannot be loaded (never stored, or does not compile)."""


@dataclass(frozen=True)
class LocalVersion:
    name: str
    version: str
    cls: type[Machine]
    source: str | None  # None: a generated module whose .flow file is gone or changed
    source_path: str | None


def _compile(source: str, path: str, name: str) -> type[Machine]:
    try:
        from rhythm.codegen.compile import compile_flow
    except ImportError as err:  # a run-only install without the build toolchain
        raise VersionUnavailable(
            f"cannot compile workflow {name!r}: the build toolchain is not installed "
            f"({err}); install rhythm with its build dependencies or deploy generated/"
        ) from err
    return compile_flow(source, path, name)


def _sha256(source: str) -> str:
    import hashlib

    normalised = source.replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


class WorkflowVersions:
    """The versions this worker has, by (name, version); thread-compatible, loop-local."""

    def __init__(self) -> None:
        self.local: dict[tuple[str, str], LocalVersion] = {}
        self.order: list[tuple[str, str]] = []  # registration order (later wins)

    def _add(self, entry: LocalVersion) -> None:
        key = (entry.name, entry.version)
        if key in self.order:
            self.order.remove(key)
        self.local[key] = entry
        self.order.append(key)

    def add_source(self, source: str, path: str, name: str | None = None) -> LocalVersion:
        """Compile one .flow source (CompileError on mistakes) and keep it."""
        workflow = name or Path(path).stem
        cls = _compile(source, path, workflow)
        entry = LocalVersion(workflow, cls.INFO.version, cls, source, path)
        self._add(entry)
        return entry

    def add_folder(self, folder: str | Path) -> list[LocalVersion]:
        """Every .flow file under ``folder``, named by its path as ``rhythm build`` does.
        One that does not compile is logged and left out: it must not keep the worker
        from serving the others (its executions fail with a clear error)."""
        root = Path(folder)
        if not root.is_dir():
            raise UnknownName(f"--flows {folder}: no such folder")
        added = []
        for path in sorted(root.rglob("*.flow")):
            name = path.relative_to(root).with_suffix("").as_posix()
            try:
                source = path.read_bytes().decode("utf-8")
                added.append(self.add_source(source, str(path), name))
            except UnicodeDecodeError as err:
                log.error("workflow %s is left out: %s:1:1: file is not valid UTF-8 (%s)",
                          name, path, err.reason)
            except (CompileError, VersionUnavailable) as err:
                log.error("workflow %s is left out: %s", name, err)
            except Exception as err:  # one version must not stop a worker
                log.error("workflow %s is left out: %s does not compile (%s: %s)", name,
                          path, type(err).__name__, err)
        return added

    def add_generated(self, folder: str | Path) -> list[LocalVersion]:
        """The versions listed in ``folder/index.json`` (``rhythm build`` output). A
        module that cannot be imported is logged and left out (see :meth:`add_folder`)."""
        root = Path(folder)
        index_path = root / "index.json"
        if not index_path.is_file():
            return []
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            items = sorted(index.get("workflows", {}).items())
        except (OSError, ValueError, AttributeError) as err:
            log.error("%s cannot be read (%s); no generated workflow is loaded", index_path, err)
            return []
        added = []
        for name, item in items:
            try:
                entry = _generated_entry(root, name, item)
            except Exception as err:  # a broken module, a bad index entry
                log.error("generated workflow %s is left out: %s: %s", name,
                          type(err).__name__, err)
                continue
            self._add(entry)
            added.append(entry)
        return added

    def registrations(self) -> list[dict[str, Any]]:
        """The versions to store (those with a source), in registration order."""
        return [
            {"name": e.name, "version": e.version, "source": e.source,
             "source_path": e.source_path, "ord": ord}
            for ord, key in enumerate(self.order)
            if (e := self.local[key]).source is not None
        ]

    async def register(self, conn: psycopg.AsyncConnection[Any], now: Any) -> int:
        """Store every version with a source; the newest registration of a name is current.
        Returns how many waiting starts of these names it made claimable. A version the
        database refuses (a source with a NUL character) is logged and left out, the
        others are registered: each attempt has its own savepoint (drive_async)."""
        from rhythm.runtime.operations import drive_async  # (operations imports this module)

        rows = self.registrations()
        if not rows:
            return 0
        try:
            return await drive_async(conn, register_op(rows, now))
        except (psycopg.DataError, psycopg.errors.ProgramLimitExceeded):
            pass  # one by one below, to find the bad one(s)
        released = 0
        for row in rows:
            try:
                released += await drive_async(conn, register_op([row], now))
            except (psycopg.DataError, psycopg.errors.ProgramLimitExceeded) as err:
                log.error("workflow %s version %s cannot be registered: %s", row["name"],
                          str(row["version"])[:12], str(err).strip().splitlines()[0])
        return released

    async def load(
        self, connect: Connect, name: str, version: str | None
    ) -> type[Machine]:
        """The machine class of a pinned version: local, else compiled from the stored
        source (read on a connection from ``connect``, asked for only then)."""
        if version is None:
            raise VersionUnavailable(f"execution of workflow {name!r} has no pinned version")
        entry = self.local.get((name, version))
        if entry is not None:
            return entry.cls
        conn = await connect()
        cur = await conn.execute(Q["get_version_source"], {"name": name, "version": version})
        row = await cur.fetchone()
        if row is None:
            raise VersionUnavailable(
                f"workflow {name!r} version {version[:12]} is not stored in the database "
                "and not known to this worker"
            )
        source, path = row[0], row[1] or f"{name}.flow"
        try:
            cls = _compile(source, path, name)
        except VersionUnavailable:
            raise
        except Exception as err:  # a CompileError, or a limit of Python
            reason = str(err) if isinstance(err, CompileError) else f"{type(err).__name__}: {err}"
            raise VersionUnavailable(
                f"stored source of workflow {name!r} version {version[:12]} does not "
                f"compile: {reason}"
            ) from err
        self.local[(name, version)] = LocalVersion(name, version, cls, source, path)
        return cls


def _read_matching(path: Path, version: str) -> str | None:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return source if _sha256(source) == version else None


def _generated_entry(root: Path, name: str, item: dict[str, Any]) -> LocalVersion:
    """One ``index.json`` entry, its module imported (any error of it raised)."""
    cls = _import_module(root / item["module"], name, item["version"])
    source_path = item.get("source")
    source = _read_matching(root.parent / source_path, item["version"]) if source_path else None
    if source is None:
        log.warning("source of %s@%s not found; it is loaded but not registered",
                    name, item["version"][:12])
    return LocalVersion(name, item["version"], cls, source, source_path)


def _import_module(path: Path, name: str, version: str) -> type[Machine]:
    module_name = f"rhythm_generated.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise UnknownName(f"cannot import generated module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    cls: type[Machine] = module.MACHINE
    if cls.INFO.version != version:
        raise UnknownName(
            f"{path}: holds version {cls.INFO.version[:12]}, index.json says {version[:12]}")
    return cls


def register_op(
    rows: list[dict[str, Any]], now: Any
) -> Generator[tuple[str, dict[str, Any]], list[dict[str, Any]], int]:
    """Store versions (an operation for ``operations.drive``): lock their names, then
    register them and release the starts that waited for them (see start_workflow);
    returns how many were released."""
    names = sorted({row["name"] for row in rows})
    yield "lock_workflow_names", {"names": names}
    yield "register_versions", {"rows": json.dumps(rows), "now": now}
    woken = yield "release_waiting_starts", {"names": names, "now": now}
    return sum(int(row["released"]) for row in woken)
