"""The execution commands: status, list, cancel, retry (--json), bad JSON flags."""

from __future__ import annotations

import json

from click.testing import CliRunner

from rhythm.cli import main
from rhythm.runtime.client import Client


def rhythm_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_status_list_cancel_retry(client: Client, db_url: str) -> None:
    run = client.queue_task("add", {"a": 1}, id="cli-1")
    code, out, _ = rhythm_cli("status", "cli-1", "--database-url", db_url, "--json")
    assert code == 0
    assert json.loads(out)["status"] == "pending"
    code, out, _ = rhythm_cli("cancel", "cli-1", "--database-url", db_url)
    assert (code, out.strip()) == (0, "cli-1: cancelled")
    code, out, _ = rhythm_cli("status", "cli-1", "--database-url", db_url)
    assert "cancelled" in out and "CancelledError" in out
    code, out, _ = rhythm_cli("retry", "cli-1", "--database-url", db_url)
    assert code == 0 and run.status() == "pending"
    code, out, _ = rhythm_cli("list", "--database-url", db_url, "--json", "--status", "pending")
    assert [e["id"] for e in json.loads(out)["executions"]] == ["cli-1"]


def test_unknown_id_is_one_clear_line(db_url: str) -> None:
    code, _, err = rhythm_cli("status", "nope", "--database-url", db_url)
    assert code == 1
    assert err.strip() == "rhythm: error: no execution with id 'nope'"


def test_bad_json_flags_are_one_clear_line(db_url: str) -> None:
    code, _, err = rhythm_cli("start", "w", "--inputs", "{oops", "--database-url", db_url)
    assert code != 0 and err.count("\n") == 1 and "--inputs is not valid JSON" in err
    code, _, err = rhythm_cli("signal", "x", "go", "--payload", "[1,", "--database-url", db_url)
    assert code != 0 and "--payload is not valid JSON" in err
