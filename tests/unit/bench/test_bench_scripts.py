"""The benchmark scripts from a fresh clone: scratch folders are created, environment
problems are one line (exit 1), never a traceback. Nothing here runs a benchmark."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@pytest.fixture
def scripts() -> Iterator[None]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


def _load(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_compare_peers_creates_a_missing_scratch_folder(scripts: None, tmp_path: Path) -> None:
    compare = _load("compare_peers")
    scratch = tmp_path / "fresh" / "bench-tmp"
    args = compare.parse_args(["--scratch", str(scratch), "--no-pgbench"])
    assert args.peers_venv == str(scratch / "peers-venv")
    assert compare.prepare(args) == scratch
    assert scratch.is_dir()


def test_compare_peers_without_the_peer_scripts_is_one_line(
    scripts: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compare = _load("compare_peers")
    monkeypatch.setattr(compare, "PEERS", tmp_path / "no-peers")
    errors = _load("script_errors")
    with pytest.raises(SystemExit) as exit_info:
        errors.run_main("compare_peers", lambda: compare.main(["--scratch", str(tmp_path)]))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        f"compare_peers: error: {tmp_path}/no-peers/run_peers.sh "
        "(the peer benchmarks (../shared/bench/peers)): not found\n")


def test_a_failing_helper_command_is_one_line(
    scripts: None, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = _load("script_errors")

    def main() -> None:
        subprocess.run(["sh", "-c", "echo no postgres here >&2; exit 3"], check=True,
                       capture_output=True, text=True)

    with pytest.raises(SystemExit) as exit_info:
        errors.run_main("paired_drains", main)
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == (
        "paired_drains: error: sh -c echo no postgres here >&2; exit 3 failed (exit 3): "
        "no postgres here\n")


def test_a_missing_working_folder_is_one_line(
    scripts: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = _load("script_errors")
    missing = tmp_path / "gone"

    with pytest.raises(SystemExit):
        errors.run_main("compare_peers", lambda: subprocess.run(["true"], cwd=missing))
    assert capsys.readouterr().err == f"compare_peers: error: {missing}: not found\n"


@pytest.mark.parametrize("name", ["compare_peers", "paired_drains", "profile_hot_path",
                                  "bench_store", "bench_frontend"])
def test_every_script_with_a_main_goes_through_run_main(name: str) -> None:
    text = (BENCHMARKS / f"{name}.py").read_text()
    assert f'run_main("{name}", main)' in text


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("*.py")))
def test_every_benchmark_script_imports(scripts: None, script: str) -> None:
    # (a name one script takes from another, renamed there, fails only when the script
    # runs: profile_hot_path and node_drain once imported a paired_drains name gone)
    module = _load(script)
    assert module.__file__ == str(BENCHMARKS / f"{script}.py")
