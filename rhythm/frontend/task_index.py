"""The project's task names, read from its task modules' source without importing them.

``tasks = ["app.tasks", ...]`` in ``rhythm.toml`` (or ``[tool.rhythm]``) names the modules
that declare tasks. Each is found under the project folder (or its ``src/``) and scanned with
:mod:`ast` for functions decorated ``@rhythm.task``, ``@rhythm.task(...)``, ``@task`` or
``@task(...)``; ``name="..."`` overrides the function's name, as at run time. Importing user
code from an editor or ``rhythm check`` could run anything, so nothing is imported; a task
defined in a way this scan cannot see (a decorator applied by a loop, say) is simply unknown.

Standard library only: the checker and ``rhythm lsp`` both use it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TaskInfo:
    """A task declared in a module: where it is and the inputs its parameters accept."""

    name: str
    path: Path
    line: int  # 1-based line of the ``def``
    column: int  # 1-based column of the function's name
    params: tuple[str, ...]  # keyword-bindable parameters, in order
    required: frozenset[str]
    accepts_any: bool  # the function takes **kwargs


@dataclass(frozen=True)
class TaskIndex:
    """Every task the configured modules declare, by name; ``problems`` says what was unread."""

    tasks: dict[str, TaskInfo]
    modules: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        """False when the project names no task module: then no name can be checked."""
        return bool(self.modules)


def module_path(project_dir: Path, module: str) -> Path | None:
    """The source file of a dotted module name under the project folder (or ``src/``)."""
    parts = module.split(".")
    for root in (project_dir, project_dir / "src"):
        for candidate in (root.joinpath(*parts).with_suffix(".py"),
                          root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def build_index(project_dir: Path, modules: list[str] | tuple[str, ...]) -> TaskIndex:
    """Scan each module's source; a module not found or not parsable is a problem, not a crash."""
    tasks: dict[str, TaskInfo] = {}
    problems: list[str] = []
    for module in modules:
        path = module_path(project_dir, module)
        if path is None:
            problems.append(f"task module {module!r} not found under {project_dir}")
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError) as err:
            problems.append(f"cannot read task module {module!r} ({path}): {err}")
            continue
        for info in scan_tree(tree, path):
            tasks.setdefault(info.name, info)
    return TaskIndex(tasks, tuple(modules), tuple(problems))


def scan_tree(tree: ast.Module, path: Path) -> list[TaskInfo]:
    """The task functions of one module, top level and in classes-free nested blocks."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                options = _task_decorator(decorator)
                if options is not None:
                    found.append(_info(node, options, path))
                    break
    return found


def _task_decorator(node: ast.expr) -> dict[str, ast.expr] | None:
    """The keyword options of a task decorator, or None if ``node`` is not one."""
    call = node if isinstance(node, ast.Call) else None
    target = call.func if call is not None else node
    is_task = (isinstance(target, ast.Attribute) and target.attr == "task"
               and isinstance(target.value, ast.Name) and target.value.id == "rhythm") or (
        isinstance(target, ast.Name) and target.id == "task")
    if not is_task:
        return None
    return {k.arg: k.value for k in call.keywords if k.arg} if call is not None else {}


def _info(fn: ast.FunctionDef | ast.AsyncFunctionDef, options: dict[str, ast.expr],
          path: Path) -> TaskInfo:
    name_node = options.get("name")
    name = fn.name
    if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
        name = name_node.value
    transactional = options.get("transactional")
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    defaults_from = len(positional) - len(args.defaults)
    named: dict[str, bool] = {}
    for index, arg in enumerate(positional):
        if index < len(args.posonlyargs):
            continue  # cannot be passed by name
        named[arg.arg] = index < defaults_from
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        named[arg.arg] = default is None
    if isinstance(transactional, ast.Constant) and transactional.value is True and named:
        named.pop(next(iter(named)))  # the connection
    # The name's column: after "def " (or "async def ") on the def line.
    column = fn.col_offset + (len("async def ") if isinstance(fn, ast.AsyncFunctionDef)
                              else len("def ")) + 1
    return TaskInfo(
        name=name, path=path, line=fn.lineno, column=column, params=tuple(named),
        required=frozenset(n for n, required in named.items() if required),
        accepts_any=args.kwarg is not None,
    )
