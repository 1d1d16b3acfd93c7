"""The compiled versions an upgrade maps between, loaded in the upgrading process.

A version comes from ``generated/`` (``rhythm build`` output, its ``index.json``) when it
is there, else it is compiled from the source stored in ``rhythm.workflow_versions``
(which needs the build toolchain, as a worker does for a pinned version it lacks): read
by :meth:`Machines.load`, an operation (:mod:`rhythm.runtime.operations`) either client
runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rhythm.flowrt.machine import FlowMachine
from rhythm.runtime.operations import Op
from rhythm.runtime.versions import VersionUnavailable, WorkflowVersions


class Machines:
    """Machine classes by (name, version), from ``generated`` then the database."""

    def __init__(self, generated: str | Path | None = "generated") -> None:
        self.versions = WorkflowVersions()
        if generated is not None and Path(generated).is_dir():
            self.versions.add_generated(generated)

    def cached(self, name: str, version: str) -> type[FlowMachine] | None:
        """The class when it is loaded already (no statement needed), else None."""
        entry = self.versions.local.get((name, version))
        return None if entry is None else _machine(entry.cls, name, version)

    def load(self, name: str, version: str) -> Op[type[FlowMachine]]:
        """The class, compiled from the stored source when it is not loaded yet."""
        found = self.cached(name, version)
        if found is not None:
            return found
        rows = yield "get_version_source", {"name": name, "version": version}
        if not rows:
            raise VersionUnavailable(f"workflow {name!r} version {version[:12]} is not "
                                     "registered (run `rhythm register` or a worker)")
        row = rows[0]
        entry = self.versions.add_source(row["source"], row["source_path"] or f"{name}.flow",
                                         name)
        return _machine(entry.cls, name, version)


def _machine(cls: Any, name: str, version: str) -> type[FlowMachine]:
    if not isinstance(cls, type) or not issubclass(cls, FlowMachine):
        raise VersionUnavailable(f"workflow {name!r} version {version[:12]} is not a "
                                 "generated machine")
    return cls
