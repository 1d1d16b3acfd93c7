"""The dashboard's security rules that need no server: loopback, Host, token, CSRF, and
the refusals of ``rhythm ui`` before it serves anything."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from rhythm.cli import main
from rhythm.ui.security import Guard, host_name, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_host_header_names_a_loopback_host_on_a_loopback_bind() -> None:
    guard = Guard(token="t" * 20)
    assert host_name("[::1]:8765") == "[::1]" and host_name("localhost:1") == "localhost"
    assert guard.host_ok("127.0.0.1:8765") and guard.host_ok("localhost")
    assert not guard.host_ok("evil.example:8765") and not guard.host_ok(None)
    assert Guard(token="t" * 20, loopback=False).host_ok("dash.example.com")


def test_token_and_csrf_compare_exactly() -> None:
    guard = Guard(token="secret-token-123456")
    assert guard.token_ok("secret-token-123456")
    assert not guard.token_ok("secret-token-12345") and not guard.token_ok(None)
    assert guard.csrf_ok(guard.csrf_token())
    assert not guard.csrf_ok("0" * 64) and not guard.csrf_ok(None)
    other = Guard(token="secret-token-123456")  # another process: another secret
    assert not other.csrf_ok(guard.csrf_token())


def test_a_public_bind_needs_a_token() -> None:
    result = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0"], standalone_mode=True,
                                env={"RHYTHM_UI_TOKEN": ""})
    assert result.exit_code == 2
    assert "not a loopback address: give --token" in result.output
    assert "Traceback" not in result.output


def test_a_short_token_is_refused() -> None:
    result = CliRunner().invoke(main, ["ui", "--token", "short"])
    assert result.exit_code == 2
    assert "--token" in result.output and "16 characters" in result.output


def test_without_the_extra_it_names_the_extra() -> None:
    probe = ("import sys; sys.modules['uvicorn'] = None\n"
             "from rhythm.cli import main; main(['ui'])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "rhythm: error: rhythm ui needs the web stack of the 'ui' extra: "
        "pip install 'rhythm[ui]' (uvicorn is not installed)"]
