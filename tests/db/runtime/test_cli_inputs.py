"""`rhythm start --inputs @FILE` and `rhythm signal --payload -` store what the file and
stdin held; `rhythm list` prints its header even with nothing to list."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import one_row

from rhythm.cli import main
from rhythm.runtime.client import Client


def rhythm_cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, prog_name="rhythm")
    return result.exit_code, result.stdout, result.stderr


def test_start_inputs_from_a_file_and_a_signal_payload_from_stdin(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    inputs = tmp_path / "order.json"
    inputs.write_text('{"orderId": "o-7", "lines": [{"sku": "a", "qty": 2}]}')
    code, out, _ = rhythm_cli("start", "orders", "--inputs", f"@{inputs}", "--json",
                              "--database-url", db_url)
    assert code == 0
    execution_id = json.loads(out)["id"]
    assert client.get(execution_id)["inputs"] == {"orderId": "o-7",
                                                  "lines": [{"sku": "a", "qty": 2}]}
    code, out, _ = rhythm_cli("signal", execution_id, "approval", "--payload", "-",
                              "--database-url", db_url, input='{"approved": true}\n')
    assert (code, out) == (0, f"{execution_id}: signal 'approval' buffered\n")
    payload = one_row(db_url, "SELECT payload FROM rhythm.signals WHERE execution_id = %s",
                      (execution_id,))[0]
    assert payload == {"approved": True}


def test_list_prints_a_header_even_when_empty(db_url: str) -> None:
    code, out, _ = rhythm_cli("list", "--database-url", db_url)
    assert (code, out) == (0, "ID\tKIND\tNAME\tSTATUS\tCREATED\tKEY\tREASON\n")
