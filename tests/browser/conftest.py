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
from collections.abc import Iterator
from typing import Any

import pytest
from runtimeloader import load_runtime_conftest

CHROMIUM = os.environ.get("RHYTHM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


load_runtime_conftest()

from runtime_conftest import flows_worker, wait_for  # noqa: E402
from uifixtures import Server, start_server, stop_server, ui  # noqa: E402

__all__ = ["Server", "flows_worker", "start_server", "stop_server", "ui", "wait_for"]


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


@pytest.fixture
def ui_read_only(db_url: str) -> Iterator[Server]:
    server, running = start_server(db_url, read_only=True)
    try:
        yield server
    finally:
        stop_server(running)


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of a fresh Chromium. Playwright's sync API runs an event loop in this
    thread while it is started, so it is started and stopped around each test: kept for
    the session, it would make every later ``asyncio.run`` of the same process fail."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
