"""The dashboard served for a test: the real app on uvicorn in a thread, on a free
loopback port, over a test database (tests/browser, tests/db/citus/test_citus_ui.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

TOKEN = "test-token-0123456789abcdef"


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
class Running:
    server: Any
    thread: threading.Thread
    store: Any


def start_server(db_url: str, read_only: bool = False) -> tuple[Server, Running]:
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
    return Server(f"http://127.0.0.1:{port}", TOKEN, store), Running(server, thread, store)


def stop_server(running: Running) -> None:
    running.server.should_exit = True
    running.thread.join(10)
    running.store.close()


@pytest.fixture
def ui(db_url: str) -> Iterator[Server]:
    """The dashboard over the test's database, stopped after the test."""
    server, running = start_server(db_url)
    try:
        yield server
    finally:
        stop_server(running)
