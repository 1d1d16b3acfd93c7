"""Browser tests of the dashboard: Playwright for Python driving Debian's Chromium.

The server under test is the real app on uvicorn, in a thread, on a free loopback port,
over the test database; workflows run on a real in-process worker (the runtime tests'
fixtures, loaded here as tests/db/citus does). Without Chromium (or Playwright) the tests
skip, saying why; under CI (``CI`` set) they fail instead: CI must run them (.ci/run
installs chromium when it is root).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "db" / "runtime"
CHROMIUM = os.environ.get("RHYTHM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "test-token-0123456789abcdef"


def _load_runtime_conftest() -> object:
    name = "runtime_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RUNTIME / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)  # puts the runtime folder on sys.path
    return sys.modules[name]


_load_runtime_conftest()

from runtime_conftest import flows_worker, wait_for  # noqa: E402

__all__ = ["flows_worker", "wait_for"]


def chromium_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def require_chromium() -> None:
    reason = chromium_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Server:
    """A dashboard served on ``base`` (http://127.0.0.1:PORT)."""

    base: str
    token: str
    store: Any

    def url(self, path: str, token: bool = False) -> str:
        joiner = "&" if "?" in path else "?"
        return self.base + path + (f"{joiner}token={self.token}" if token else "")


@dataclass
class _Running:
    server: Any
    thread: threading.Thread
    store: Any


def start_server(db_url: str, read_only: bool = False) -> tuple[Server, _Running]:
    import uvicorn

    from rhythm.ui.app import create_app
    from rhythm.ui.security import Guard
    from rhythm.ui.store import Store

    store = Store(db_url)
    app = create_app(store, Guard(token=TOKEN, read_only=read_only))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.02)
    return Server(f"http://127.0.0.1:{port}", TOKEN, store), _Running(server, thread, store)


def stop_server(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(10)
    running.store.close()


@pytest.fixture
def ui(db_url: str) -> Iterator[Server]:
    server, running = start_server(db_url)
    try:
        yield server
    finally:
        stop_server(running)


@pytest.fixture
def ui_read_only(db_url: str) -> Iterator[Server]:
    server, running = start_server(db_url, read_only=True)
    try:
        yield server
    finally:
        stop_server(running)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
