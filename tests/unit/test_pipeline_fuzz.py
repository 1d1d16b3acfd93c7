"""Fuzz the whole pipeline with size-stressing sources (issue 16, quality bar): long
chains, deep nesting, huge literals, control characters and token soup. ``rhythm check``,
``rhythm build`` and ``rhythm run`` must answer with their documented exit codes and
one-line errors, never a Python traceback, and never hang (a deadline per example)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhythm.cli import main

ATOMS = ["1", "x", "'s'", "`t${x}`", "[1, 2]", "{a: 1}", "null", "true", "9" * 400, "1e308"]
BINARY = [" + ", " - ", " * ", " && ", " || ", " ?? ", " == ", " < ", " % "]
WRAPS = [("(", ")"), ("[", "]"), ("{a: ", "}"), ("`${", "}`"), ("String(", ")"),
         ("JSON.stringify(", ")"), ("-(", ")"), ("[x].map(y => ", ")"), ("x ? ", " : 1")]
TOKENS = ["let", "const", "x", "=", "(", ")", "{", "}", "[", "]", "`", "${", "'", '"', "+",
          "await", "Task.run('t')", "return", ";", "\n", "=>", ".", "?.", "//", "/*", "*/",
          "while", "if", "try", "catch", "finally", ",", ":", "1", "\\u0000", "\\"]
CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\ufeff",
            "\ud800"]


@st.composite
def chains(draw: st.DrawFn) -> str:
    op = draw(st.sampled_from(BINARY))
    count = draw(st.integers(1, 1500))
    return "const x = 1\nreturn " + op.join([draw(st.sampled_from(ATOMS))] * count)


@st.composite
def nestings(draw: st.DrawFn) -> str:
    opening, closing = draw(st.sampled_from(WRAPS))
    depth = draw(st.integers(1, 400))
    return "const x = 1\nreturn " + opening * depth + "x" + closing * depth


@st.composite
def blocks(draw: st.DrawFn) -> str:
    head, tail = draw(st.sampled_from([
        ("while (x < 1) {\n", "x = 1\n}\n"), ("if (x) {\n", "}\n"),
        ("try {\n", "} catch (e) {}\n"), ("for (const a of [1]) {\n", "}\n"), ("{\n", "}\n"),
    ]))
    depth = draw(st.integers(1, 60))
    return "let x = 0\n" + head * depth + "x = 1\n" + tail * depth + "return x"


@st.composite
def soups(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(TOKENS + CONTROLS), max_size=60))
    return " ".join(parts)


@st.composite
def with_controls(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(["return 'ab'", "const s = `a${1}b`\nreturn s", "// c\nreturn 1"]))
    at = draw(st.integers(0, len(base)))
    return base[:at] + draw(st.sampled_from(CONTROLS)) + base[at:]


@st.composite
def huge_literals(draw: st.DrawFn) -> str:
    size = draw(st.sampled_from([5000, 100_000, 500_000]))
    kind = draw(st.sampled_from(["string", "number", "hex", "array"]))
    if kind == "string":
        return "return '" + "a" * size + "'.length"
    if kind == "number":
        return "return " + "7" * min(size, 100_000)
    if kind == "hex":
        return "return 0x" + "f" * min(size, 100_000)
    return "return [" + "1," * min(size, 1_000) + "].length"  # black: ~0.5 ms per element


BUILDERS = {
    "deep": "let v = []\nfor (let i = 0; i < {n}; i++) {{ v = [v, {{k: 'x'}}] }}\n",
    "dag": "let v = ['leaf']\nfor (let i = 0; i < {n}; i++) {{ v = [v, v] }}\n",
    "text": "let v = 'ab'\nfor (let i = 0; i < {n}; i++) {{ v = v + v }}\n",
    "wide": "let v = []\nfor (let i = 0; i < {n} * 1000; i++) {{ v.push('s' + i) }}\n",
}
CONSUMERS = [
    "return v == JSON.parse(JSON.stringify(v))", "return JSON.stringify(v).length",
    "return String(v).length", "console.log(v)\nreturn 1", "return v",
    "await Timer.delay('1s')\nreturn 1", "return [v].includes(v)", "return [v, v].join('-').length",
    "return typeof v == 'string' ? v.split('a').length : v.length",
    "try { return JSON.stringify(v).length } catch (e) { return e.name }",
]


@st.composite
def run_stress(draw: st.DrawFn) -> str:
    builder = BUILDERS[draw(st.sampled_from(sorted(BUILDERS)))]
    n = draw(st.sampled_from([1, 10, 30, 99, 101, 500, 3000]))
    return builder.format(n=n) + draw(st.sampled_from(CONSUMERS))


SOURCES = st.one_of(
    chains(), nestings(), blocks(), soups(), with_controls(), huge_literals(), run_stress()
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("fuzz")
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"rhythm {' '.join(args)} raised {result.exception!r}")
    return result.exit_code, result.stdout + result.stderr


def write(folder: Path, source: str) -> Path:
    path = folder / "fuzz.flow"
    path.write_bytes(source.encode("utf-8", "surrogatepass"))
    return path


@settings(max_examples=100, deadline=10_000, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(source=SOURCES)
def test_check_build_and_run_never_show_a_traceback(folder: Path, source: str) -> None:
    path = write(folder, source)
    check_code, check_out = invoke("check", str(path))
    build_code, build_out = invoke("build", str(path), "--out", str(folder / "gen"))
    for code, out in ((check_code, check_out), (build_code, build_out)):
        assert code in (0, 1, 2), out
        assert "Traceback" not in out, out
    assert (check_code == 0) == (build_code == 0), check_out + build_out
    if build_code == 0:
        for module in (folder / "gen").glob("*.py"):  # what build writes, Python compiles
            compile(module.read_text(encoding="utf-8"), str(module), "exec")
        run_code, run_out = invoke("run", str(path))
        assert run_code in (0, 1), run_out
        assert "Traceback" not in run_out and "InternalError" not in run_out, run_out
