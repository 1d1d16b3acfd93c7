"""`rhythm check [PATHS] [--json]`: static checks of .flow files, nothing generated.

Paths are files or folders (searched recursively for ``*.flow``). With no path, the
project's ``workflows/`` folder is checked if it exists, else the current folder. Every
diagnostic of every file is printed; the exit code is 1 if there was any, 0 otherwise.
Two files that give the same workflow name (``folder/stem``) are an error too.

Task calls are also checked against the project's task modules (``tasks = [...]`` in the
project file, read without importing them: rhythm/frontend/task_index.py): an unknown task
name or inputs that do not fit the function are *warnings*, printed but not counted in the
exit code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rhythm.errors import EXIT_FAILED, EXIT_OK, InputError

# Folders never searched when walking a tree: tooling, caches and build output.
if TYPE_CHECKING:
    from rhythm.frontend.ast import Program
    from rhythm.frontend.diagnostics import Diagnostic
    from rhythm.frontend.task_index import TaskIndex

_SKIPPED_DIRS = {"node_modules", "generated", "__pycache__", "site-packages"}


@dataclass(frozen=True)
class FlowFile:
    path: Path
    name: str  # the workflow name: stem, or folder/stem below the searched root


def default_paths() -> list[Path]:
    workflows = Path("workflows")
    return [workflows] if workflows.is_dir() else [Path(".")]


def collect(paths: list[Path]) -> list[FlowFile]:
    """The .flow files under ``paths`` with their workflow names, in a stable order."""
    from rhythm.frontend import workflow_name

    found: list[FlowFile] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"no such file or directory: {path}")
        if path.is_file():
            found.append(FlowFile(path, path.stem))
            continue
        for file in sorted(path.rglob("*.flow")):
            relative_parts = file.relative_to(path).parts[:-1]
            if any(p.startswith(".") or p in _SKIPPED_DIRS for p in relative_parts):
                continue
            if file.is_file():
                found.append(FlowFile(file, workflow_name(file, path)))
    return found


def check_files(
    files: list[FlowFile],
) -> tuple[list[Diagnostic], dict[str, str], dict[str, Program]]:
    """Diagnostics of every file (and duplicate names), plus each file's source by path and
    the tree of each file that parsed (for the task checks)."""
    from rhythm.frontend import analyze_source
    from rhythm.frontend.diagnostics import Diagnostic

    diagnostics: list[Diagnostic] = []
    sources: dict[str, str] = {}
    programs: dict[str, Program] = {}
    first_owner: dict[str, str] = {}
    for flow in files:
        label = str(flow.path)
        try:
            source = flow.path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            diagnostics.append(
                Diagnostic(label, 1, 1, 1, 2, f"file is not valid UTF-8 ({err.reason})")
            )
            continue
        except OSError as err:
            raise InputError(f"cannot read {label}: {err.strerror}") from err
        sources[label] = source
        program, _, diags = analyze_source(source, label)
        diagnostics.extend(diags)
        if program is not None:
            programs[label] = program
        if flow.name in first_owner:
            message = (
                f"duplicate workflow name '{flow.name}' (also the name of {first_owner[flow.name]})"
            )
            diagnostics.append(Diagnostic(label, 1, 1, 1, 2, message))
        else:
            first_owner[flow.name] = label
    return diagnostics, sources, programs


def project_task_index() -> TaskIndex:
    """The task index of the project around the current folder (empty when none is set)."""
    from rhythm.config import find_project_dir, read_task_modules
    from rhythm.frontend.task_index import build_index

    project = find_project_dir()
    modules, _ = read_task_modules(project)
    return build_index(project, modules)


def task_warnings(programs: dict[str, Program], index: TaskIndex) -> list[Diagnostic]:
    """Warnings about task calls in every file that parsed."""
    from rhythm.frontend.task_checks import task_warnings as warnings_of

    found: list[Diagnostic] = []
    for label, program in programs.items():
        found.extend(warnings_of(program, index, label))
    return found


def _in_file_order(files: list[FlowFile], diagnostics: list[Diagnostic],
                   warnings: list[Diagnostic]) -> list[Diagnostic]:
    """Errors as before; warnings (their message prefixed) slotted in by file and position."""
    if not warnings:
        return diagnostics
    order = {str(f.path): i for i, f in enumerate(files)}
    marked = [replace(w, message=f"warning: {w.message}") for w in warnings]
    return sorted(diagnostics + marked,  # a stable sort: errors keep their order
                  key=lambda d: (order.get(d.path, len(order)), d.line, d.column))


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as one JSON object.")
def check_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check .flow files for errors without generating anything.

    PATHS are files or folders (searched recursively for *.flow); the default is
    workflows/ if it exists, else the current folder. Exit code 1 if any error is found.
    """
    files = collect(list(paths) or default_paths())
    diagnostics, sources, programs = check_files(files)
    index = project_task_index()
    warnings = task_warnings(programs, index)
    if as_json:
        report = {
            "ok": not diagnostics,
            "files": [str(f.path) for f in files],
            "diagnostics": [d.to_json() for d in diagnostics],
            "warnings": [w.to_json() for w in warnings],
            "task_index_problems": list(index.problems),
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for problem in index.problems:
            click.echo(f"rhythm: warning: {problem}", err=True)
        for diag in _in_file_order(files, diagnostics, warnings):
            click.echo(diag.render(sources.get(diag.path)))
        count = len(diagnostics)
        noun = "file" if len(files) == 1 else "files"
        summary = f"{count} error{'s' if count != 1 else ''}" if count else "no errors"
        if warnings:
            summary += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
        click.echo(f"checked {len(files)} {noun}: {summary}", err=bool(count))
    sys.exit(EXIT_FAILED if diagnostics else EXIT_OK)


COMMANDS = [check_command]
