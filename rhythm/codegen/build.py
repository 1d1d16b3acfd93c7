"""``rhythm build``: compile every .flow file into one Python module per workflow version.

Layout of the output folder (default ``generated/``):

- ``<name>__<sha12>.py`` per workflow version, where ``<name>`` is the workflow name with
  every character outside ``[A-Za-z0-9_]`` replaced by ``_`` (``billing/refund`` ->
  ``billing_refund``) and ``<sha12>`` the first 12 hex digits of the version (SHA-256 of
  the source). Older versions are kept: executions stay pinned to them.
- ``index.json``: the current version of each workflow name -> its module and source.

Builds are byte-for-byte reproducible; only files whose bytes change are written; nothing
is ever deleted. A file with errors generates nothing (its diagnostics are returned).
A version whose module already carries the same build key (compiler, black, name, path,
source hash) is not compiled again, which keeps a no-change rebuild fast; ``check=True``
compiles everything and compares bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import black

from rhythm.codegen.compile import generate, version_of
from rhythm.compiler import COMPILER_VERSION
from rhythm.errors import CompileError

DEFAULT_SOURCES = "workflows"
DEFAULT_OUT = "generated"
INDEX = "index.json"
PARALLEL_FROM = 16  # below this, starting worker processes costs more than it saves
_SKIP_DIRS = {"generated", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class FlowFile:
    path: Path
    display: str  # the path as written into generated code (posix, relative when possible)
    name: str


@dataclass
class BuildReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.stale


def discover(paths: list[str]) -> list[FlowFile]:
    """Every .flow file under ``paths`` (folders recursively), named as spec section 1 says."""
    found: list[FlowFile] = []
    for given in paths:
        root = Path(given)
        if root.is_file():
            found.append(FlowFile(root, _display(root), root.stem))
            continue
        if not root.is_dir():
            raise CompileError(f"{given}: no such file or folder")
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
            for filename in sorted(files):
                if filename.endswith(".flow"):
                    path = Path(folder) / filename
                    name = path.relative_to(root).with_suffix("").as_posix()
                    found.append(FlowFile(path, _display(path), name))
    return found


def module_filename(name: str, version: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}__{version[:12]}.py"


def build_key(name: str, display: str, version: str) -> str:
    """Everything the generated text depends on, hashed (written in the module header)."""
    parts = [COMPILER_VERSION, str(black.__version__), name, display, version]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def build(paths: list[str], out_dir: str = DEFAULT_OUT, check: bool = False) -> BuildReport:
    report = BuildReport()
    files = discover(paths)
    _reject_duplicates(files, report)
    if report.errors:
        return report
    out = Path(out_dir)
    index: dict[str, dict[str, str]] = {}
    jobs: list[tuple[FlowFile, str, Path, str]] = []
    for flow in files:
        try:
            source = flow.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:  # as `rhythm check` says it
            report.errors.append(f"{flow.display}:1:1: file is not valid UTF-8 ({err.reason})")
            continue
        version = version_of(source)
        target = out / module_filename(flow.name, version)
        key = build_key(flow.name, flow.display, version)
        index[flow.name] = {"version": version, "module": target.name, "source": flow.display}
        if not check and _has_key(target, key):
            report.unchanged.append(str(target))
        else:
            jobs.append((flow, source, target, key))
    for (flow, _, target, key), outcome in zip(jobs, _generate_all(jobs), strict=True):
        if isinstance(outcome, list):
            report.errors.extend(outcome)
            index.pop(flow.name)
            continue
        text = outcome.replace("\n", f"\n# Build key: {key}\n", 1)
        _emit(target, text.encode(), check, report)
    if not report.errors:
        index_text = json.dumps({"format": 1, "workflows": index}, indent=2, sort_keys=True)
        _emit(out / INDEX, (index_text + "\n").encode(), check, report)
    return report


def _generate_one(source: str, display: str, name: str) -> str | list[str]:
    """The module text, or the file's diagnostics (one line each)."""
    try:
        return generate(source, display, name).text
    except CompileError as err:
        return _diagnostic_lines(err)


def _generate_all(jobs: list[tuple[FlowFile, str, Path, str]]) -> list[str | list[str]]:
    """Generate in worker processes when there are many files (black is the slow part)."""
    arguments = [(source, flow.display, flow.name) for flow, source, _, _ in jobs]
    workers = min(os.cpu_count() or 1, 8)
    if len(jobs) < PARALLEL_FROM or workers < 2:
        return [_generate_one(*a) for a in arguments]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_generate_one, *zip(*arguments, strict=True), chunksize=4))


def _emit(target: Path, data: bytes, check: bool, report: BuildReport) -> None:
    if target.is_file() and target.read_bytes() == data:
        report.unchanged.append(str(target))
    elif check:
        report.stale.append(str(target))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(target.suffix + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(target)
        report.written.append(str(target))


def _has_key(target: Path, key: str) -> bool:
    if not target.is_file():
        return False
    with target.open("rb") as handle:
        head = handle.read(300)
    return f"\n# Build key: {key}\n".encode() in head


def _reject_duplicates(files: list[FlowFile], report: BuildReport) -> None:
    seen: dict[str, FlowFile] = {}
    modules: dict[str, FlowFile] = {}
    for flow in files:
        if flow.name in seen:
            report.errors.append(
                f"{flow.display}:1:1: workflow name '{flow.name}' is also used by "
                f"{seen[flow.name].display}"
            )
        seen[flow.name] = flow
        stem = module_filename(flow.name, "")
        other = modules.get(stem)
        if other is not None and other.name != flow.name:
            report.errors.append(
                f"{flow.display}:1:1: workflow names '{flow.name}' and '{other.name}' "
                "map to the same generated file name"
            )
        modules[stem] = flow


def _diagnostic_lines(err: CompileError) -> list[str]:
    lines = [d.headline() if hasattr(d, "headline") else str(d) for d in err.diagnostics]
    return lines or [str(err)]


def _display(path: Path) -> str:
    try:
        return PurePath(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()
