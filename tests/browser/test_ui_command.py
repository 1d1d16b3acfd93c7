"""``rhythm ui`` as a user runs it: a subprocess that prints its link, made-up token
included, and serves the dashboard over the given database."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def rhythm_ui(db_url: str, *args: str) -> Iterator[str]:
    """The link ``rhythm ui --port 0 ARGS`` prints; stopped (SIGINT) on exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhythm", "ui", "--port", "0", "--database-url", db_url, *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RHYTHM_UI_TOKEN": ""})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("rhythm ui: serving on http://127.0.0.1:"), (
            line + (proc.stderr.read() if proc.stderr else ""))
        yield line.split()[4]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


def get(link: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(link)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                 headers=headers or {})
    response = conn.getresponse()
    response.read()
    return response


def test_the_printed_link_opens_the_dashboard(db_url: str) -> None:
    with rhythm_ui(db_url) as link:
        token = link.split("token=", 1)[1]
        assert len(token) >= 24
        first = get(link)
        assert first.status == 303 and first.getheader("location") == "/executions"
        cookie = first.getheader("set-cookie") or ""
        assert f"rhythm_ui_token={token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        base = link.split("?", 1)[0]
        assert get(base).status == 401
        page = get(base, {"Authorization": f"Bearer {token}"})
        assert page.status == 200
        assert "default-src 'none'" in (page.getheader("content-security-policy") or "")


def test_read_only_says_so(db_url: str) -> None:
    with rhythm_ui(db_url, "--read-only", "--token", "a-token-of-twenty-chars") as link:
        assert "token=" not in link  # (a token of the user's own is not printed)
        page = get(link, {"Authorization": "Bearer a-token-of-twenty-chars"})
        assert page.status == 200


def test_json_log_lines(db_url: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rhythm", "ui", "--port", "0", "--database-url", db_url,
         "--log-format", "json", "--token", "a-token-of-twenty-chars"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    link = proc.stdout.readline().split()[4]
    assert get(link, {"Authorization": "Bearer a-token-of-twenty-chars"}).status == 200
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    # (every log line is JSON; the CLI's own last line says it was interrupted)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert err.splitlines()[-1] == "rhythm: interrupted"
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access and "GET /executions" in access[0]["message"], err
    assert all({"time", "level", "message", "logger"} <= set(line) for line in lines)
