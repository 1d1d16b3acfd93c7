"""The in-memory runner's history (issue 20): `rhythm.testing` results and `rhythm run
--history` show the entries the Postgres worker writes (compared with it in
tests/db/runtime/test_history_parity.py); the snapshot cap and the timeline text."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from rhythm.cli import main
from rhythm.observe.entries import RAW_BELOW, pack_snapshot, unpack_snapshot
from rhythm.testing import run_flow

FLOW = """const payment = await Task.run("charge", { amount: 5 })
const approval = await Signal.next("approval")
return { payment: payment, approval: approval }
"""
MOCKS = {"tasks": {"charge": {"returns": {"id": "p1"}}},
         "signals": [{"name": "approval", "payload": {"ok": True}, "after": "1h"}]}


def test_run_result_carries_the_history() -> None:
    result = run_flow(FLOW, None, MOCKS, name="pay")
    assert result.status == "completed"
    assert [(e["seq"], e["kind"], e["step"]) for e in result.history] == [
        (1, "started", None), (2, "activation", 1), (3, "activation", 2),
        (4, "signal", None), (5, "activation", 3)]
    started, first, second, signal, third = (e["detail"] for e in result.history)
    assert started["name"] == "pay" and started["run_no"] == 1
    assert signal == {"name": "approval", "buffered": False, "delivered_to": 2, "run_no": 1}
    assert first["resumed"] is None and first["stopped"]["line"] == 1
    assert second["settled"] == [{"promise": 1, "kind": "task", "name": "charge",
                                  "outcome": "ok"}]
    assert second["waiting"] == {"promise": 2, "kind": "signal", "name": "approval"}
    assert third["stopped"]["status"] == "completed"
    assert result.history[2]["snapshot_bytes"] > 0
    assert result.history[4]["snapshot_bytes"] is None  # (an ending saves none)


def test_rhythm_run_history(tmp_path: Path) -> None:
    (tmp_path / "pay.flow").write_text(FLOW)
    (tmp_path / "mocks.json").write_text(json.dumps(MOCKS))
    args = ["run", str(tmp_path / "pay.flow"), "--mocks", str(tmp_path / "mocks.json")]
    out = CliRunner().invoke(main, [*args, "--history"]).stdout
    lines = out.split("history:\n")[1].splitlines()
    assert len(lines) == 5
    assert lines[2].strip().endswith(
        "activation  step 2 resumed at line 1 (task charge) -> waiting at line 2: "
        "signal approval")
    assert lines[3].strip().endswith("signal      signal approval arrived (delivered to promise 2)")
    assert lines[4].strip().endswith(
        "step 3 resumed at line 2 (signal approval) -> completed at line 3")
    data = json.loads(CliRunner().invoke(main, [*args, "--json", "--history"]).stdout)
    assert [e["step"] for e in data["history"]] == [None, 1, 2, None, 3]
    assert "history" not in json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)


def test_snapshots_are_compressed_and_capped() -> None:
    snapshot = {"label": 3, "vars": {"codec": 1, "vars": ["x", "y" * 1000]}}
    packed = pack_snapshot(snapshot, cap=2000)
    assert packed.data is not None and len(packed.data) < 200
    assert unpack_snapshot(packed.data) == snapshot and not packed.truncated
    over = pack_snapshot(snapshot, cap=100)
    assert (over.data, over.size, over.truncated) == (None, packed.size, True)


def test_a_small_snapshot_is_kept_as_its_text() -> None:
    """Under RAW_BELOW bytes zlib is not worth its time: the text is stored, and read
    back as a compressed one is (the first byte tells them apart)."""
    small = {"label": 2, "vars": {"i": 3}}
    packed = pack_snapshot(small)
    assert packed.data == b'{"label":2,"vars":{"i":3}}' and packed.size == len(packed.data)
    assert unpack_snapshot(packed.data) == small
    large = {"label": 2, "vars": {"s": "ab" * RAW_BELOW}}
    deflated = pack_snapshot(large)
    assert deflated.data is not None and deflated.data[:1] != b"{"
    assert unpack_snapshot(deflated.data) == large


RETURNS = """const a = await Task.run("t", {})
if (a > 0) {
  return "positive"
}
try {
  if (a < -5) {
    return await Task.run("t", {})
  }
  return "negative"
} finally {
  console.log("done")
}
"""


def _ending(flow: str, value: int, cleanup: bool = False) -> tuple[str, int | None]:
    mocks = {"tasks": {"t": {"returns": value}, "cleanup": {"returns": None}}}
    result = run_flow(flow, None, mocks, name="returns")
    stopped = result.history[-1]["detail"]["stopped"]
    return stopped["status"], stopped["line"]


def test_an_ending_says_the_line_of_the_return_that_ended_it() -> None:
    """Not the line its last state starts at: each return its own, through a finally
    too, and `return await` (ended in a state of its own)."""
    assert _ending(RETURNS, 1) == ("completed", 3)
    assert _ending(RETURNS, -1) == ("completed", 9)
    assert _ending(RETURNS, -9) == ("completed", 7)
    assert _ending('const a = await Task.run("t", {})\nconsole.log(a)\n', 1) == (
        "completed", 2)  # (no return: its last statement's)


def test_a_return_whose_finally_suspends_ends_at_the_finally() -> None:
    """The return's line is not in the snapshot the finally's await takes: the ending
    says the line of the state it ended in (docs/observability.md)."""
    flow = ('try {\n  return 1\n} finally {\n  await Task.run("cleanup", {})\n}\n')
    assert _ending(flow, 1) == ("completed", 4)


def test_a_return_after_a_branch_and_an_arrow_says_its_own_line() -> None:
    """Lines of other statements' blocks above the return (a branch's, an arrow's body
    with statements of its own) are not the return's."""
    flow = ('const a = await Task.run("t", {})\n'
            'let b = [0]\n'
            'if (a > 5) {\n'
            '  b = [1]\n'
            '}\n'
            'return b.map((x) => {\n'
            '  const y = x + 1\n'
            '  return y\n'
            '})\n')
    assert _ending(flow, 1) == ("completed", 6)
    failing = flow.replace("return y", "return y.nope.deeper")
    result = run_flow(failing, None, {"tasks": {"t": {"returns": 1}}}, name="returns")
    assert result.status == "failed"
    assert result.history[-1]["detail"]["stopped"]["line"] == 8
