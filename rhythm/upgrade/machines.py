"""The compiled versions an upgrade maps between, loaded in the upgrading process.

A version comes from ``generated/`` (``rhythm build`` output, its ``index.json``) when it
is there, else it is compiled from the source stored in ``rhythm.workflow_versions``
(which needs the build toolchain, as a worker does for a pinned version it lacks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from rhythm.flowrt.machine import FlowMachine
from rhythm.runtime.sql import Q
from rhythm.runtime.versions import VersionUnavailable, WorkflowVersions


class Machines:
    """Machine classes by (name, version), from ``generated`` then the database."""

    def __init__(self, generated: str | Path | None = "generated") -> None:
        self.versions = WorkflowVersions()
        if generated is not None and Path(generated).is_dir():
            self.versions.add_generated(generated)

    def get(self, conn: psycopg.Connection[Any], name: str, version: str) -> type[FlowMachine]:
        entry = self.versions.local.get((name, version))
        if entry is None:
            row = conn.execute(Q["get_version_source"],
                               {"name": name, "version": version}).fetchone()
            if row is None:
                raise VersionUnavailable(f"workflow {name!r} version {version[:12]} is not "
                                         "registered (run `rhythm register` or a worker)")
            entry = self.versions.add_source(row[0], row[1] or f"{name}.flow", name)
        cls = entry.cls
        if not isinstance(cls, type) or not issubclass(cls, FlowMachine):
            raise VersionUnavailable(f"workflow {name!r} version {version[:12]} is not a "
                                     "generated machine")
        return cls


