"""The mocks file: valid shapes, one-line errors naming the bad entry, durations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rhythm.engine.mocks import (
    MockReply,
    RunInputError,
    TaskReplies,
    load_mocks,
    parse_mocks,
)
from rhythm.errors import EXIT_USAGE
from rhythm.flowrt.durations import parse_duration_ms

SPEC_EXAMPLE = {
    "tasks": {
        "charge": {"returns": {"id": "p1"}},
        "notify": {"echo": True},
        "flaky": {"sequence": [{"fails": {"type": "IOError", "message": "down"}}, {"returns": 1}]},
        "broken": {"fails": {"type": "ValueError", "message": "bad card"}},
    },
    "signals": [{"name": "approval", "payload": {"ok": True}, "after": "2h"}],
}


def test_spec_example_parses() -> None:
    mocks = parse_mocks(SPEC_EXAMPLE)
    assert mocks.tasks["charge"] == (MockReply("returns", value={"id": "p1"}),)
    assert mocks.tasks["notify"] == (MockReply("echo"),)
    assert [r.kind for r in mocks.tasks["flaky"]] == ["fails", "returns"]
    assert mocks.tasks["broken"][0].error_type == "ValueError"
    assert mocks.signals[0].after_ms == 2 * 3_600_000
    assert mocks.signals[0].payload == {"ok": True}


def test_sequence_last_entry_repeats_across_calls() -> None:
    replies = TaskReplies(parse_mocks(SPEC_EXAMPLE))
    kinds = [replies.next_reply("flaky").kind for _ in range(4)]  # type: ignore[union-attr]
    assert kinds == ["fails", "returns", "returns", "returns"]
    assert replies.next_reply("unknown") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "mocks: (top level): must be a JSON object"),
        ({"task": {}}, "mocks: (top level): unknown key 'task'"),
        ({"tasks": {"a": {"return": 1}}}, "mocks: tasks.a: unknown key 'return'"),
        ({"tasks": {"a": {}}}, "mocks: tasks.a: needs exactly one of returns, echo, fails"),
        ({"tasks": {"a": {"returns": 1, "echo": True}}}, "needs exactly one"),
        ({"tasks": {"a": {"echo": "yes"}}}, "mocks: tasks.a.echo: must be true"),
        ({"tasks": {"a": {"fails": {"type": "E"}}}}, "mocks: tasks.a.fails.message: must be a"),
        ({"tasks": {"a": {"fails": {"type": "E", "message": "m", "x": 1}}}}, "unknown key 'x'"),
        ({"tasks": {"a": {"sequence": []}}}, "mocks: tasks.a.sequence: must be a non-empty"),
        (
            {"tasks": {"a": {"sequence": [{"returns": 1}, {"echo": False}]}}},
            "mocks: tasks.a.sequence[1].echo: must be true",
        ),
        ({"tasks": {"a": {"sequence": [], "returns": 1}}}, "tasks.a: unknown key 'returns'"),
        ({"signals": {}}, "mocks: signals: must be a list"),
        ({"signals": [{"payload": 1}]}, "mocks: signals[0].name: must be a non-empty string"),
        ({"signals": [{"name": "s", "after": "soon"}]}, 'signals[0].after: duration "soon" is'),
        ({"signals": [{"name": "s", "at": "1h"}]}, "mocks: signals[0]: unknown key 'at'"),
    ],
)
def test_bad_mocks_give_one_line_with_the_path(data: object, message: str) -> None:
    with pytest.raises(RunInputError) as info:
        parse_mocks(data)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert info.value.exit_code == EXIT_USAGE


def test_load_mocks_reports_file_and_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text("{nope")
    with pytest.raises(RunInputError, match=r"m\.json: not valid JSON"):
        load_mocks(bad)
    with pytest.raises(RunInputError, match="cannot read mocks file"):
        load_mocks(tmp_path / "missing.json")
    good = tmp_path / "ok.json"
    good.write_text(json.dumps(SPEC_EXAMPLE))
    assert "charge" in load_mocks(good).tasks


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (0, 0),
        (1.5, 1500),
        ("250ms", 250),
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("7d", 604_800_000),
        ("0.5s", 500),
    ],
)
def test_durations(value: object, ms: int) -> None:
    assert parse_duration_ms(value) == ms


@pytest.mark.parametrize("value", [-1, "soon", "", "5 m", True, None, "1h-2m", float("nan")])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(value)
