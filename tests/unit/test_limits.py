"""Resource limits end to end (issue 16, items 6 and 7): what Python cannot compile or
recurse through is a positioned compile error or a LimitError, never a traceback; costly
operations are paid for in the operation budget."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rhythm.cli import main
from rhythm.codegen.build import build
from rhythm.flowrt.protocol import Limits
from rhythm.runtime.versions import WorkflowVersions
from rhythm.testing import RunInputError, run_flow


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout + result.stderr


# ---------------------------------------------------------------- compile side

DEEP_SOURCES = {
    "sum": "return " + " + ".join(["1"] * 5000),
    "and": "const x = true\nreturn " + " && ".join(["x"] * 5000),
    "member": "const a = {}\nreturn a" + "?.b" * 3000,
    "template": "return " + "`${" * 300 + "1" + "}`" * 300,
    "array": "return " + "[" * 500 + "]" * 500,
    "call": "return " + "String(" * 300 + "1" + ")" * 300,
    "loops": "let x = 0\n" + "while (x < 1) {\n" * 25 + "x = 1\n" + "}\n" * 25 + "return x",
}


@pytest.mark.parametrize("shape", sorted(DEEP_SOURCES))
def test_deep_sources_are_a_positioned_error_and_write_nothing(in_tmp: Path, shape: str) -> None:
    (in_tmp / "deep.flow").write_text(DEEP_SOURCES[shape] + "\n")
    code, out = cli("build", "deep.flow", "--out", "gen")
    assert code == 1
    line = DEEP_SOURCES[shape].count("\n") + 1 if shape in ("and", "member") else 1
    if shape == "loops":
        line = 2
    assert f"deep.flow:{line}:1: nested too deeply" in out
    assert "Traceback" not in out
    assert not (in_tmp / "gen").exists()


def test_nesting_within_the_limit_builds_and_runs(in_tmp: Path) -> None:
    source = "const x = 1\nreturn " + " + ".join(["x"] * 70)
    (in_tmp / "ok.flow").write_text(source + "\n")
    assert build(["ok.flow"], "gen").ok
    assert run_flow("ok.flow").result == 70


def test_huge_number_literal_is_a_positioned_error(in_tmp: Path) -> None:
    (in_tmp / "big.flow").write_text("const n = 1\nreturn " + "9" * 5000 + "\n")
    code, out = cli("check", "big.flow")
    assert code == 1
    assert "big.flow:2:8: number literal is too large" in out


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f"])
def test_raw_control_characters_are_a_positioned_error(in_tmp: Path, char: str) -> None:
    (in_tmp / "ctl.flow").write_text(f"const s = 'a{char}b'\nreturn s\n")
    code, out = cli("build", "ctl.flow", "--out", "gen")
    assert code == 1
    assert f"ctl.flow:1:13: raw control character U+{ord(char):04X} in the source" in out
    assert not (in_tmp / "gen").exists()


def test_a_lone_carriage_return_is_a_line_break_for_check_and_build(in_tmp: Path) -> None:
    (in_tmp / "cr.flow").write_text("const x = 1\rreturn y\r", newline="")
    code, out = cli("check", "cr.flow")
    assert code == 1
    assert "cr.flow:2:8: undeclared name 'y'" in out


# ---------------------------------------------------------------- run side

DEEP = "let a = []\nfor (let i = 0; i < 3000; i++) { a = [a] }\n"


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("let b = []\nfor (let i = 0; i < 3000; i++) { b = [b] }\nreturn a == b",
         "comparing values: value nested more than 100 levels deep"),
        ("return JSON.stringify(a)", "JSON.stringify: value nested more than 100 levels deep"),
        ("console.log(a)\nreturn 1", "console.log: value nested more than 100 levels deep"),
        ("return String(a)", "String() of an array: value nested more than 100 levels deep"),
        ("return [a].includes(a)", None),
        ("await Timer.delay('1s')\nreturn 1",
         "a value nested more than 100 levels deep cannot be saved in a snapshot"),
        ("return a", "value nested more than 100 levels deep"),
        ("try { return JSON.stringify(a) } catch (e) { return 'caught' }",
         "JSON.stringify: value nested more than 100 levels deep"),
    ],
)
def test_deep_values_fail_with_a_limit_error(use: str, message: str | None) -> None:
    result = run_flow_text(DEEP + use)
    if message is None:  # identity comes first: no walk needed
        assert result.result is True
        return
    assert result.status == "failed", result
    assert result.error["name"] == "LimitError"
    assert message in result.error["message"]


def run_flow_text(source: str, limits: Limits | None = None):  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.flow"
        path.write_text(source + "\n")
        return run_flow(path, limits=limits)


def test_deeply_nested_json_parse_and_huge_numbers_are_flow_errors() -> None:
    deep = run_flow_text("return JSON.parse('['.repeat(100000))")
    assert deep.error["name"] == "LimitError"
    big = run_flow_text("try { return JSON.parse('9'.repeat(5000)) } catch (e) { return e.name }")
    assert big.result == "RangeError"
    num = run_flow_text("try { return Number('9'.repeat(5000)) } catch (e) { return e.name }")
    assert num.result == "RangeError"


def test_deep_inputs_are_refused_at_the_boundary() -> None:
    deep: object = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(RunInputError, match="nested more than 100 levels deep"):
        run_flow_text_inputs({"a": deep})


def run_flow_text_inputs(inputs: dict[str, object]) -> object:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.flow"
        path.write_text("return Inputs\n")
        return run_flow(path, inputs=inputs)


# ---------------------------------------------------------------- the CPU budget

COSTLY = {
    "doubling string": "let s = 'x'.repeat(1000000)\nlet n = 0\n"
    "for (let i = 0; i < 100000; i++) { n += (s + s).length }\nreturn n",
    "shared DAG": "let a = [1]\nfor (let i = 0; i < 40; i++) { a = [a, a] }\n"
    "return JSON.stringify(a).length",
    "DAG logged": "let a = [1]\nfor (let i = 0; i < 40; i++) { a = [a, a] }\n"
    "console.log(a)\nreturn 1",
    "huge joins": "const xs = []\nfor (let i = 0; i < 100000; i++) xs.push('abcdefgh')\n"
    "let n = 0\nfor (let i = 0; i < 100000; i++) { n += xs.join(',').length }\nreturn n",
    "sorts": "const xs = []\nfor (let i = 0; i < 100000; i++) xs.push(i % 977)\n"
    "for (let i = 0; i < 100000; i++) { xs.sort() }\nreturn 1",
    "callbacks": "const xs = []\nfor (let i = 0; i < 10000; i++) xs.push(i)\n"
    "let n = 0\nfor (let i = 0; i < 1000; i++) { n += xs.map(x => x).length }\nreturn n",
    # one costly C-level operation per iteration on a 9 MB string (each ~1-20 ms)
    **{
        what: "const s = 'x'.repeat(9000000)\nconst t = 'x'.repeat(9000000)\nlet n = 0\n"
        f"for (let i = 0; i < 100000; i++) {{ {body} }}\nreturn n"
        for what, body in {
            "string equality": "if (s == t) n++",
            "string order": "if (s < t) n++",
            "includes": "if (s.includes('y')) n++",
            "toLowerCase": "n += s.toLowerCase().length",
            "slice": "n += s.slice(1).length",
            "trim": "n += s.trim().length",
            "for-of over a string": "for (const c of s) { n++; break }",
        }.items()
    },
    # many references to one big string: the text is refused before it is built
    **{
        what: "const s = 'x'.repeat(9000000)\nconst xs = [s, s, s]\n" + use
        for what, use in {
            "stringify of references": "return JSON.stringify(xs).length",
            "log of references": "console.log(xs)\nreturn 1",
            "join of references": "return xs.join('').length",
        }.items()
    },
}


def test_equality_of_shared_dags_is_linear_not_exponential() -> None:
    source = (
        "let a = [1]\nlet b = [1]\n"
        "for (let i = 0; i < 40; i++) { a = [a, a]; b = [b, b] }\nreturn a == b"
    )
    assert run_flow_text(source).result is True


BUDGET_MESSAGE = (
    "more than 1000000 operations without a suspension (a runaway loop, or "
    "costly operations such as huge strings, joins, sorts or JSON in a loop)"
)


@pytest.mark.parametrize("shape", sorted(COSTLY))
def test_costly_activations_hit_the_operation_budget(shape: str) -> None:
    result = run_flow_text(COSTLY[shape])
    assert result.status == "failed", result
    assert result.error["name"] == "LimitError"
    if "references" in shape:
        size = 18000000 if "join" in shape else 18000004
        expected = f"string length limit exceeded: {size} > 10000000 characters"
    else:
        expected = BUDGET_MESSAGE
    assert re.fullmatch(re.escape(expected) + r" \(at .*w\.flow:\d+\)", result.error["message"])


def test_the_budget_is_configurable_and_counts_cost_not_only_steps() -> None:
    source = "const s = 'x'.repeat(100000)\nreturn (s + s).length"
    assert run_flow_text(source).result == 200000
    tight = run_flow_text(source, Limits(max_ops=100))  # 200k characters cost ~195 operations
    assert tight.error["name"] == "LimitError"


def test_digit_string_keys_past_any_index_are_not_parsed_as_integers() -> None:
    source = "const a = [1]\nreturn [a['9'.repeat(5000)], a['0']]"
    assert run_flow_text(source).result == [None, 1]
    write = run_flow_text("const a = [1]\na['9'.repeat(5000)] = 2\nreturn a")
    assert write.error["name"] == "TypeError"
    assert write.error["message"].startswith("Cannot set property '9999")


@pytest.mark.parametrize(
    "call",
    [
        "Timer.delay(1e300)",
        "Timer.delay('9'.repeat(400) + 'd')",
        "Signal.next('x', {timeout: '9'.repeat(400) + 's'})",
        "Signal.next('x', {timeout: 365000 * 86400 + 1e6})",
    ],
)
def test_durations_that_would_overflow_a_date_are_a_flow_error(call: str) -> None:
    result = run_flow_text(f"try {{ await {call} }} catch (e) {{ return e.message }}")
    assert result.status == "completed", result
    assert "is too long: at most 1000 years" in result.result


def test_worker_start_up_names_raw_control_bytes_and_bad_encodings(
    in_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's loading of --flows: the bad files are named (position, reason) and
    left out, the good one is served."""
    (in_tmp / "good.flow").write_text("return 1\n")
    (in_tmp / "nul.flow").write_bytes(b"return 1 // \x00\n")
    (in_tmp / "latin.flow").write_bytes(b"\xff\xfe\n")
    versions = WorkflowVersions()
    with caplog.at_level(logging.ERROR, logger="rhythm"):
        added = versions.add_folder(in_tmp)
    assert [entry.name for entry in added] == ["good"]
    assert f"{in_tmp / 'nul.flow'}:1:13: raw control character U+0000 in the source" in caplog.text
    assert f"{in_tmp / 'latin.flow'}:1:1: file is not valid UTF-8" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_search_that_stops_early_costs_only_the_callbacks_it_made() -> None:
    setup = "const xs = []\nfor (let i = 0; i < 5000; i++) xs.push(i)\nlet n = 0\n"
    early = setup + "for (let i = 0; i < 300; i++) { n += xs.find(x => x == 3) }\nreturn n"
    assert run_flow_text(early).result == 900  # ~300 * 4 callbacks + loops
    full = setup + "for (let i = 0; i < 300; i++) { n += xs.findIndex(x => x < 0) }\nreturn n"
    assert run_flow_text(full).error["name"] == "LimitError"  # 300 * 5000 callbacks


def test_the_caret_excerpt_shows_control_characters_as_pictures(in_tmp: Path) -> None:
    (in_tmp / "esc.flow").write_text('const s = "a\x1b[31mb"\nreturn s\n')
    code, out = cli("check", "esc.flow")
    assert code == 1
    assert '    const s = "a\u241b[31mb"\n                ^\n' in out
    assert "\x1b" not in out


def test_deeply_nested_mocks_are_one_line_errors(in_tmp: Path) -> None:
    (in_tmp / "t.flow").write_text("return await Task.run('t')\n")
    (in_tmp / "huge.json").write_text(mock_reply("[" * 100_000 + "]" * 100_000))
    code, out = cli("run", "t.flow", "--mocks", "huge.json")
    assert (code, out.strip()) == (2, "rhythm: error: huge.json: nested too deeply")
    (in_tmp / "deep.json").write_text(mock_reply("[" * 150 + "]" * 150))
    code, out = cli("run", "t.flow", "--mocks", "deep.json")
    assert code == 2
    assert "deep.json: (top level): a value is nested more than 100 levels deep" in out


def mock_reply(value_text: str) -> str:
    return '{"tasks": {"t": {"returns": ' + value_text + "}}}"


def test_a_limit_error_says_where_it_happened(in_tmp: Path) -> None:
    (in_tmp / "spin.flow").write_text("let n = 0\nwhile (true) {\n  n++\n}\n")
    code, out = cli("run", "spin.flow")
    assert code == 1
    assert f"{BUDGET_MESSAGE} (at spin.flow:2)" in out  # the loop that ran away


def test_build_never_writes_a_module_python_refuses(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever slips past the front end's limits (here: a renderer made to emit nesting
    # Python refuses) is reported as this file's error, and nothing is written.
    import rhythm.codegen.compile as compile_module

    real_render = compile_module.render

    def too_nested(view: object, formatted: bool = True) -> str:
        return real_render(view, formatted) + "\nx = " + "(" * 300 + "1" + ")" * 300 + "\n"

    monkeypatch.setattr(compile_module, "render", too_nested)
    (in_tmp / "ok.flow").write_text("return 1\n")
    report = build(["ok.flow"], "gen")
    assert report.errors == [
        "ok.flow:1:1: cannot generate Python for this workflow (SyntaxError: too many nested "
        "parentheses); simplify deeply nested or very long expressions"
    ]
    assert not (in_tmp / "gen").exists()


def test_console_log_lines_are_cut_at_64_kib() -> None:
    source = "const s = 'x'.repeat(9000000)\nfor (let i = 0; i < 50; i++) console.log(s)\nreturn 1"
    result = run_flow_text(source)
    assert result.status == "completed", result
    assert len(result.logs) == 50
    assert all(line.endswith("x" * 1000 + "... (8934464 more characters)") for line in result.logs)
    assert max(len(line) for line in result.logs) < 65_536 + 100  # (+ the host's prefix)


def test_a_deep_value_beside_a_shared_one_fails_the_snapshot_with_the_depth_message() -> None:
    source = (
        "const shared = [1]\nlet deep = []\nfor (let i = 0; i < 900; i++) { deep = [deep] }\n"
        "const v = [shared, shared, deep]\nawait Timer.delay('1s')\nreturn v.length"
    )
    result = run_flow_text(source)
    assert result.error["name"] == "LimitError"
    assert result.error["message"].startswith(
        "a value nested more than 100 levels deep cannot be saved in a snapshot"
    )
