"""Running the Node.js package's tests and processes from pytest (tests/node): Node.js
and npm found on PATH, the package's dependencies installed once (``npm ci``, under a
lock: xdist workers share the checkout)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "node"
FLOWS = REPO / "tests" / "node" / "flows"
MIN_MAJOR = 20


def node_or_skip() -> str:
    """The node executable, after ``npm ci`` when node_modules is missing; skips (with the
    reason) where Node.js 20+ and npm cannot be had."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _missing("Node.js 20+ and npm are not installed (.ci/run installs them as root)")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if int(version.lstrip("v").split(".")[0]) < MIN_MAJOR:
        _missing(f"Node.js {version.strip()} is older than {MIN_MAJOR}")
    with open(PACKAGE / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (PACKAGE / "node_modules" / ".package-lock.json").is_file() or _stale():
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE,
                                  capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
    return node


def _stale() -> bool:
    """node_modules installed from an older package-lock.json (npm ci again)."""
    installed = PACKAGE / "node_modules" / ".package-lock.json"
    return installed.stat().st_mtime < (PACKAGE / "package-lock.json").stat().st_mtime


def _missing(reason: str) -> None:
    """Skip; fail under CI, which must run the Node.js tests (as the Citus tier)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the Node.js tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def node_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env["RHYTHM_NODE_TEST_DATABASE_URL"] = url
    env["RHYTHM_NODE_TEST_PYTHON"] = sys.executable  # (node tests run `python -m rhythm`)
    return env


@contextmanager
def both_workers(node: str, url: str, *, python_args: Sequence[str] = (),
                 python_env: dict[str, str] | None = None,
                 js_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """A Python worker (the flows of tests/node/flows, queue default, and
    ``python_args``) and a Node.js worker (node/test/fixtures/run-worker.js: js_* tasks),
    both registered (the flows' versions, the JavaScript task names) before this yields
    the environment they run with."""
    env = node_env(url)
    python = subprocess.Popen(
        [sys.executable, "-m", "rhythm", "worker", "-q", "default", "--flows", str(FLOWS),
         "--grace", "2", "--database-url", url, *python_args],
        env={**env, **(python_env or {})}, stderr=subprocess.PIPE, text=True)
    js = subprocess.Popen([node, "test/fixtures/run-worker.js"], cwd=PACKAGE,
                          env={**env, **(js_env or {})}, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        assert js.stdout is not None and js.stdout.readline().startswith("ready "), \
            js.stderr.read() if js.stderr else ""
        _wait_for_flows(url, python)
        yield env
    finally:
        for proc in (python, js):
            proc.terminate()
        for proc in (python, js):
            proc.communicate(timeout=20)


def _wait_for_flows(url: str, worker: subprocess.Popen[str]) -> None:
    """Until every flow of tests/node/flows has a registered version (the worker's start)."""
    from rhythm.runtime.client import Client

    wanted = {path.stem for path in FLOWS.glob("*.flow")}
    deadline = time.monotonic() + 30
    with Client(url) as client:
        while not wanted <= set(client.workflow_names()):
            assert worker.poll() is None and time.monotonic() < deadline, \
                worker.stderr.read() if worker.stderr and worker.poll() is not None else \
                "the Python worker registered no flows in 30 s"
            time.sleep(0.05)
