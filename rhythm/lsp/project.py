"""The project around a document: its task index and its sibling workflows.

The task index (rhythm/frontend/task_index.py) is rebuilt when the project file or a task
module changes on disk (compared by modification time, so an edit in an editor's Python
buffer counts once saved). Workflow names are relative to the document's ``workflows/``
folder (the nearest ancestor of that name, else the project's), as ``rhythm build`` names
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rhythm.config import PROJECT_FILES, find_project_dir, read_task_modules
from rhythm.errors import RhythmError
from rhythm.frontend.task_index import TaskIndex, build_index, module_path

_SKIPPED = {"node_modules", "generated", "__pycache__", "site-packages"}


@dataclass
class Project:
    """One project folder; its task index is cached until a file it was read from changes."""

    root: Path
    _index: TaskIndex | None = None
    _stamps: dict[Path, float] = field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def around(cls, document: Path) -> Project:
        return cls(find_project_dir(document.parent))

    def tasks(self) -> TaskIndex:
        """The task index, re-read if the project file or a task module changed."""
        if self._index is None or self._stale():
            self._index = self._read()
        return self._index

    def _read(self) -> TaskIndex:
        try:
            modules, _ = read_task_modules(self.root)
            self.problem = None
        except RhythmError as err:
            modules, self.problem = [], str(err)
        index = build_index(self.root, modules)
        watched = [self.root / name for name in PROJECT_FILES]
        watched += [p for m in modules if (p := module_path(self.root, m)) is not None]
        self._stamps = {p: _mtime(p) for p in watched}
        return index

    def _stale(self) -> bool:
        return any(_mtime(p) != stamp for p, stamp in self._stamps.items())

    def workflows_root(self, document: Path) -> Path:
        """The folder workflow names are relative to, for a document."""
        for parent in document.parents:
            if parent.name == "workflows":
                return parent
            if parent == self.root:
                break
        candidate = self.root / "workflows"
        return candidate if candidate.is_dir() else document.parent

    def workflows(self, document: Path) -> dict[str, Path]:
        """Sibling workflows by name (``folder/stem`` below the workflows root)."""
        root = self.workflows_root(document)
        found: dict[str, Path] = {}
        for file in sorted(root.rglob("*.flow")):
            parts = file.relative_to(root).parts
            if any(p.startswith(".") or p in _SKIPPED for p in parts[:-1]):
                continue
            found[file.relative_to(root).with_suffix("").as_posix()] = file
        return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0
