"""Flow code reaches nothing of Python: user text only ever lands inside string literals."""

from __future__ import annotations

import io
import keyword
import tokenize

import pytest

from rhythm.codegen import generate
from tests.unit.compiler.flowhost import run_flow

HOSTILE_NAMES = [
    "__import__",
    "__class__",
    "self",
    "host",
    "v",
    "ops",
    "m",
    "FlowThrow",
    "MachineInfo",
    "MACHINE",
    "exec",
    "eval",
    "__builtins__",
    "_s0_start",
    "args",
]


def _python_names(text: str) -> set[str]:
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return {t.string for t in tokens if t.type == tokenize.NAME}


def test_hostile_variable_names_are_only_dict_keys() -> None:
    decls = "\n".join(f"let {n} = {i}" for i, n in enumerate(HOSTILE_NAMES))
    total = " + ".join(HOSTILE_NAMES)
    source = f"{decls}\nlet zz_user_marker = await Task.run('echo', {{v: 1}})\nreturn {total}"
    text = generate(source, "evil.flow").text
    names = _python_names(text)
    assert "zz_user_marker" not in names
    assert "__import__" not in names and "eval" not in names and "exec" not in names
    run = run_flow(source)
    assert run.value == sum(range(len(HOSTILE_NAMES)))


def test_generated_names_come_from_a_fixed_vocabulary() -> None:
    source = (
        "let weird$name = {__proto__: 1, constructor: 2}\n"
        "const out = [1].map(q_user => q_user + 1)\n"
        "try { await Task.run('fail') } catch (err_user) { weird$name.x = err_user.name }\n"
        "return [weird$name, out]"
    )
    names = _python_names(generate(source, "w.flow").text)
    allowed_prefixes = (
        "_s",
        "_l",
        "_o",
        "_a",
        "_callback",
        "_first",
        "_again",
        "_item",
        "_error",
        "_source",
        "_args",
    )
    fixed = {
        "m",
        "ops",
        "self",
        "v",
        "args",
        "FlowThrow",
        "MachineInfo",
        "Workflow",
        "MACHINE",
        "INFO",
        "STATES",
        "HANDLERS",
        "LIVE",
        "AWAITS",
        "NEEDS",
        "rhythm",
        "flowrt",
        "machine",
        "protocol",
        "name",
        "version",
        "source_path",
        "compiler_version",
        "lines",
        "FlowMachine",
    }
    for name in names:
        ok = keyword.iskeyword(name) or name in fixed or name.startswith(allowed_prefixes)
        ok = ok or name in {"len", "None", "True", "False"}
        ok = ok or (name.isidentifier() and name.islower() and name.replace("_", "").isalpha())
        assert ok, name
    assert "weird" not in " ".join(names) and "q_user" not in names and "err_user" not in names


@pytest.mark.parametrize(
    "literal",
    [
        '"\\"\\"\\" + x"',
        '"\\n# comment"',
        "'\\u0000' + '1' + '\\u0000'",
        '"${notTemplate}"',
        "'\\\\'",
        '"\\u2028)\\nimport os"',
        "'\\r\\n'",
    ],
)
def test_hostile_strings_stay_strings(literal: str) -> None:
    source = f"let s = {literal}\nlet e = await Task.run('echo', {{v: s}})\nreturn e.v"
    generate(source, "s.flow")  # formats with black: would fail on broken Python
    run = run_flow(source)
    assert run.status == "completed"
    assert isinstance(run.value, str)


def test_hostile_keys_and_members() -> None:
    source = (
        "let o = {'__proto__': 1, '__class__': 2, \"a'b\": 3}\n"
        "await Task.run('x')\n"
        "return [o.__proto__, o['__class__'], o[\"a'b\"], o.__dict__, ''.__add__]"
    )
    run = run_flow(source)
    assert run.status in {"completed", "failed"}
    if run.status == "completed":
        assert run.value[:4] == [1, 2, 3, None]
        assert run.value[4] is None
    else:
        assert run.value["name"] == "TypeError"


def test_source_comments_cannot_end_the_line() -> None:
    source = "let a = 1 // \u2028 evil = True \u0085 more\nreturn a"
    text = generate(source, "c.flow").text
    assert "evil = True" not in [line.strip() for line in text.splitlines()]
    assert run_flow(source).value == 1
