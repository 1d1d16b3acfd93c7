"""From .flow source to generated Python: front end, lowering, rendering, loading.

``compile_flow`` is what the in-memory host uses (no files); ``generate`` is what
``rhythm build`` writes. Both produce the same code, except that ``compile_flow`` skips
black (formatting changes nothing that runs, and it is the slow part).
"""

from __future__ import annotations

import hashlib
import re
import sys
import types
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, cast

from rhythm.codegen.render import render
from rhythm.codegen.view import module_view
from rhythm.compiler import COMPILER_VERSION, MachineModel, lower
from rhythm.compiler.expressions import CompileFailure
from rhythm.errors import CompileError
from rhythm.flowrt import machine
from rhythm.flowrt.protocol import Machine
from rhythm.frontend.ast import Span
from rhythm.frontend.diagnostics import Diagnostic


@dataclass(frozen=True)
class Generated:
    name: str
    version: str
    source_path: str
    text: str


def version_of(source: str) -> str:
    """SHA-256 of the source with line endings normalised to ``\\n``."""
    normalised = source.replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def workflow_name(path: str) -> str:
    return PurePath(path).stem


def model_of(source: str, path: str, name: str | None = None) -> MachineModel:
    """Check and lower one .flow file (raises CompileError with every diagnostic)."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    program, resolution = _analyze(source, path)
    try:
        return lower(
            program,
            resolution,
            name=name or workflow_name(path),
            version=version_of(source),
            source=source,
            source_path=path,
        )
    except CompileFailure as err:
        span = err.span or Span(1, 1, 1, 1)
        diagnostic = Diagnostic.at(path, span, err.message)
        raise CompileError(diagnostic.headline(), [diagnostic]) from err


def _analyze(source: str, path: str) -> tuple[Any, Any]:
    from rhythm.frontend import analyze

    checked = analyze(source, path)
    return checked.program, checked.resolution


def generate(source: str, path: str, name: str | None = None, formatted: bool = True) -> Generated:
    """The module text; a formatted (``rhythm build``) text is also compiled, so that a
    module Python would refuse is never written (CompileError instead)."""
    text = None
    try:
        model = model_of(source, path, name)
        text = render(module_view(model, COMPILER_VERSION), formatted=formatted)
        if formatted:
            compile(text, path, "exec")
    except CompileError:
        raise
    except Exception as err:  # a limit the front end missed, or black refusing its input
        raise _unbuildable(path, err, text) from err
    return Generated(model.name, model.version, path, text)


def _unbuildable(path: str, err: BaseException, text: str | None) -> CompileError:
    """The flow cannot become Python: a limit the front end missed, or a compiler bug.
    Positioned at the .flow line of the refused Python when the generated text says it."""
    if isinstance(err, SyntaxError):
        detail = err.msg
        line = _flow_line(text, err.lineno) if text else None
    else:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        line = None
    diagnostic = Diagnostic(
        path, line or 1, 1, line or 1, 2,
        f"cannot generate Python for this workflow ({type(err).__name__}: {detail[:200]}); "
        "simplify deeply nested or very long expressions",
    )
    return CompileError(diagnostic.headline(), [diagnostic])


_FLOW_COMMENT = re.compile(r"^\s*# \S+:(\d+)(\s|$)")


def _flow_line(text: str, python_line: int | None) -> int | None:
    """The ``# file.flow:N`` comment the generator wrote above ``python_line``, if any."""
    lines = text.splitlines()
    for number in range(min(python_line or 0, len(lines)), 0, -1):
        match = _FLOW_COMMENT.match(lines[number - 1])
        if match:
            return int(match.group(1))
    return None


_loaded: dict[tuple[str, str, str | None], type[Machine]] = {}


def compile_flow(source: str, path: str, name: str | None = None) -> type[Machine]:
    """The machine class of a .flow source, compiled in memory (no file written)."""
    key = (source, path, name)
    cls = _loaded.get(key)
    if cls is None:
        generated = generate(source, path, name, formatted=False)
        cls = load_module(generated.text, f"{generated.name}@{generated.version[:12]}", path)
        _loaded[key] = cls
    return cls


def load_module(text: str, label: str, path: str | None = None) -> type[Machine]:
    """Execute generated module text and return its machine class."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in label)
    module_name = f"rhythm_flows.{safe}"
    filename = f"<flow {label}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    machine.register_source(filename, text)
    try:
        code = compile(text, filename, "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as err:
        raise _unbuildable(path or label, err, text) from err
    exec(code, module.__dict__)
    sys.modules[module_name] = module
    return cast(type[Machine], module.MACHINE)
