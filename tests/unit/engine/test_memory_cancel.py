"""Cancellation in the in-memory runner (the mocks' ``cancel``), as on Postgres (issue 16,
item 1): CancelledError at the current await; what was started before is cancelled or
dropped; what catch/finally start afterwards runs; the run ends ``cancelled``."""

from __future__ import annotations

import pytest

from rhythm.engine.mocks import RunInputError
from rhythm.testing import run_flow

try:
    from rhythm.codegen import compile_flow  # noqa: F401
except ImportError:  # pragma: no cover - before the compiler lands
    pytest.skip("rhythm.codegen.compile_flow not built", allow_module_level=True)

SAGA = """
await Task.run("charge", {})
try {
  await Signal.next("ship")
  return "shipped"
} catch (e) {
  await Timer.delay("1m")
  const r = await Task.run("refund", {})
  return {refund: r, because: e.name}
}
"""
MOCKS = {"tasks": {"charge": {"returns": "c1"}, "refund": {"returns": "r1"}},
         "cancel": {"after": "1h"}}


def test_a_saga_refunds_in_catch_after_cancel() -> None:
    result = run_flow(SAGA, mocks=MOCKS)
    assert result.status == "cancelled"
    assert [c["name"] for c in result.calls] == ["charge", "refund"]
    assert result.result == {"refund": "r1", "because": "CancelledError"}
    assert result.error["name"] == "CancelledError"
    assert result.virtual_ms == 3_660_000  # cancelled at 1h, then the 1m timer
    assert result.summary().startswith("cancelled with CancelledError")


def test_finally_compensates_and_the_error_escapes() -> None:
    source = (
        'await Task.run("charge", {})\n'
        'try { await Timer.delay("1d") } finally { await Task.run("refund", {}) }\n'
        'return "never"\n'
    )
    result = run_flow(source, mocks=MOCKS)
    assert (result.status, result.result) == ("cancelled", None)
    assert result.error["name"] == "CancelledError"
    assert result.calls_to("refund") == [{}]


def test_what_started_before_is_cancelled_and_dropped() -> None:
    source = (
        'const kid = Workflow.run("kid", {})\n'
        'const t = Timer.delay("2h")\n'
        "try { await Signal.next(\"ship\") } catch (e) {\n"
        "  let got = []\n"
        "  try { await kid } catch (k) { got.push([k.name, k.cause.name]) }\n"
        '  got.push(await Promise.race([t, Timer.delay("3h"), Signal.next("late")]))\n'
        "  return got\n"
        "}\n"
    )
    mocks = {**MOCKS, "signals": [{"name": "late", "payload": "L", "after": "6h"}]}
    result = run_flow(source, mocks=mocks, workflows={"kid": 'await Timer.delay("5h")\n'})
    assert result.status == "cancelled"
    # the kid was cancelled; the 2h timer was dropped, so the 3h one started in catch
    # (at 1h) wins at 4h
    assert result.result == [["ChildWorkflowError", "CancelledError"], None]
    assert result.virtual_ms == 4 * 3_600_000


def test_a_run_that_ends_before_the_cancel_is_not_cancelled() -> None:
    result = run_flow('await Timer.delay("1m")\nreturn 1\n', mocks=MOCKS)
    result.assert_completed(1)


def test_the_cancel_mock_is_validated() -> None:
    with pytest.raises(RunInputError, match=r"cancel\.after"):
        run_flow("return 1\n", mocks={"cancel": {"after": "soon"}})
    with pytest.raises(RunInputError, match="unknown key 'at'"):
        run_flow("return 1\n", mocks={"cancel": {"at": "1h"}})
