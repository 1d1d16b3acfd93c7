"""Rendering a machine model to Python source: Jinja (strict) and then black (pinned mode)."""

from __future__ import annotations

import functools
from pathlib import Path

import black
import jinja2

from rhythm.codegen.view import ModuleView

TEMPLATE = "module.py.j2"
# Pinned so that output is byte-for-byte reproducible for a given black release.
BLACK_MODE = black.Mode(
    target_versions={black.TargetVersion.PY311},
    line_length=100,
    string_normalization=True,
    magic_trailing_comma=True,
)


def _templates_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "codegen_templates",  # source checkout
        here.parents[1] / "_data" / "codegen_templates",  # installed wheel
    ):
        if (candidate / TEMPLATE).is_file():
            return candidate
    raise FileNotFoundError("codegen_templates/module.py.j2 not found")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def render(view: ModuleView, formatted: bool = True) -> str:
    """The module text; ``formatted=False`` skips black (valid Python, used in memory)."""
    text = _environment().get_template(TEMPLATE).render(module=view)
    if not formatted:
        return text
    return str(black.format_str(text, mode=BLACK_MODE))
