"""The command line behaves the same way everywhere (issue 16, item 8): JSON options
read through one helper (JSON, @FILE, - for stdin; exit 2 when bad), click's own errors
as one ``rhythm: error:`` line, "did you mean" for a missing FLOW, and the database hint
that suggests RHYTHM_DATABASE_URL only when it is not set. Real subprocesses where the
exit code and the exact stderr are the point; nothing here needs a database."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def rhythm(*args: str, cwd: Path = REPO, stdin: str | None = None,
           env: dict[str, str] | None = None) -> tuple[int, str, str]:
    import os

    child_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    child_env.update(env or {})
    done = subprocess.run([sys.executable, "-m", "rhythm", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=60, env=child_env)
    return done.returncode, done.stdout, done.stderr


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/nothing"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "echo_inputs.flow").write_text("return Inputs\n")
    (tmp_path / "inputs.json").write_text('{"who": "ada", "n": [1, 2]}')
    (tmp_path / "bad.json").write_text('{"who": ')
    (tmp_path / "deep.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return tmp_path


# ---------------------------------------------------------------- bad JSON: exit 2

@pytest.mark.parametrize(("args", "line"), [
    (["run", "workflows/echo_inputs.flow", "--inputs", "{oops"],
     "rhythm: error: --inputs is not valid JSON: Expecting property name enclosed in double "
     "quotes at line 1 column 2"),
    (["run", "workflows/echo_inputs.flow", "--inputs", "[1]"],
     "rhythm: error: --inputs must be a JSON object, not an array"),
    (["run", "workflows/echo_inputs.flow", "--inputs", "@bad.json"],
     "rhythm: error: --inputs @bad.json is not valid JSON: Expecting value at line 1 column 9"),
    (["run", "workflows/echo_inputs.flow", "--inputs", "@deep.json"],
     "rhythm: error: --inputs @deep.json is nested too deeply"),
    (["run", "workflows/echo_inputs.flow", "--inputs", "@missing.json"],
     "rhythm: error: --inputs @missing.json: cannot read: No such file or directory"),
    (["start", "echo_inputs", "--inputs", "{oops"],
     "rhythm: error: --inputs is not valid JSON: Expecting property name enclosed in double "
     "quotes at line 1 column 2"),
    (["start", "echo_inputs", "--inputs", '"text"'],
     "rhythm: error: --inputs must be a JSON object, not a string"),
    (["start", "echo_inputs", "--inputs", "@bad.json"],
     "rhythm: error: --inputs @bad.json is not valid JSON: Expecting value at line 1 column 9"),
    (["signal", "w-1", "go", "--payload", "[1,"],
     "rhythm: error: --payload is not valid JSON: Expecting value at line 1 column 4"),
    (["signal", "w-1", "go", "--payload", "@missing.json"],
     "rhythm: error: --payload @missing.json: cannot read: No such file or directory"),
])
def test_bad_json_options_exit_2_with_one_line(project: Path, args: list[str], line: str
                                               ) -> None:
    # (start and signal refuse before they connect: the URL here leads nowhere)
    code, out, err = rhythm(*args, "--database-url", _closed_port_url(), cwd=project) \
        if args[0] != "run" else rhythm(*args, cwd=project)
    assert (code, out, err) == (2, "", line + "\n")


def test_bad_json_on_stdin_exits_2(project: Path) -> None:
    code, out, err = rhythm("run", "workflows/echo_inputs.flow", "--inputs", "-", cwd=project,
                            stdin="{\n  nope\n}")
    assert (code, out) == (2, "")
    assert err == ("rhythm: error: --inputs (stdin) is not valid JSON: Expecting property "
                   "name enclosed in double quotes at line 2 column 3\n")


# ---------------------------------------------------------------- @FILE and stdin

def test_inputs_from_a_file_and_from_stdin(project: Path) -> None:
    code, out, _ = rhythm("run", "workflows/echo_inputs.flow", "--inputs", "@inputs.json",
                          "--json", cwd=project)
    assert code == 0 and json.loads(out)["result"] == {"who": "ada", "n": [1, 2]}
    code, out, _ = rhythm("run", "workflows/echo_inputs.flow", "--inputs", "-", "--json",
                          cwd=project, stdin='{"from": "stdin"}')
    assert code == 0 and json.loads(out)["result"] == {"from": "stdin"}


# ---------------------------------------------------------------- did you mean

def test_run_of_a_missing_flow_says_did_you_mean(project: Path) -> None:
    code, out, err = rhythm("run", "echo_input.flow", cwd=project)
    assert (code, out, err) == (
        2, "", "rhythm: error: echo_input.flow: no such .flow file; did you mean "
               "'workflows/echo_inputs.flow'?\n")
    code, _, err = rhythm("run", "workflows/nothing_like_it.flow", cwd=project)
    assert (code, err) == (
        2, "rhythm: error: workflows/nothing_like_it.flow: no such .flow file\n")


# ---------------------------------------------------------------- click's own errors

@pytest.mark.parametrize(("args", "line"), [
    (["worker", "-m", "no_such_module_here"],
     "rhythm: error: cannot import task module 'no_such_module_here': No module named "
     "'no_such_module_here' (see 'rhythm worker --help')"),
    (["start", "w", "--bogus"],
     "rhythm: error: No such option '--bogus' (see 'rhythm start --help')"),
    (["start"], "rhythm: error: Missing argument 'NAME' (see 'rhythm start --help')"),
    (["list", "--limit", "0"],
     "rhythm: error: Invalid value for '--limit': 0 is not in the range 1<=x<=10000 "
     "(see 'rhythm list --help')"),
    (["strat"], "rhythm: error: No such command 'strat'. (Did you mean one of: 'start', "
                "'status'?)"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    code, out, err = rhythm(*args, "--database-url", _closed_port_url()) \
        if args[0] in ("worker", "list") else rhythm(*args)
    assert (code, out, err) == (2, "", line + "\n")


# ---------------------------------------------------------------- the database hint

def test_the_url_hint_suggests_rhythm_database_url_only_when_it_is_not_set() -> None:
    url = _closed_port_url()
    where = url.split("@")[1]
    code, _, err = rhythm("status", "w-1", "--database-url", url)
    assert (code, err) == (3, f"rhythm: error: cannot connect to Postgres at {where}: "
                              "Connection refused; is the server running? set "
                              "RHYTHM_DATABASE_URL or run `rhythm db start`\n")
    code, _, err = rhythm("status", "w-1", env={"RHYTHM_DATABASE_URL": url})
    assert (code, err) == (3, f"rhythm: error: cannot connect to Postgres at {where}: "
                              "Connection refused; is the server running, and is "
                              "RHYTHM_DATABASE_URL (or --database-url) right?\n")


def test_an_invalid_url_names_where_it_came_from() -> None:
    bad = "postgresql://127.0.0.1:1/x?bogus_option=1"
    reason = 'invalid database URL (invalid URI query parameter: "bogus_option")'
    code, _, err = rhythm("status", "w-1", "--database-url", bad)
    assert (code, err) == (3, f"rhythm: error: {reason}: check --database-url, or "
                              "database_url in the project file\n")
    code, _, err = rhythm("status", "w-1", env={"RHYTHM_DATABASE_URL": bad})
    assert (code, err) == (3, f"rhythm: error: {reason}: check RHYTHM_DATABASE_URL\n")


def test_register_with_nothing_to_register_is_bad_usage(tmp_path: Path) -> None:
    code, out, err = rhythm("register", "--database-url", _closed_port_url(), cwd=tmp_path)
    assert (code, out, err) == (
        2, "", "rhythm: error: nothing to register: no generated/index.json and no "
               "workflows/ folder here (give PATHS, or run `rhythm build` first)\n")
