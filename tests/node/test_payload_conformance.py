"""Payload conformance: JSON text written by the Python side (rhythm.runtime.payloads)
reads in the Node.js package as the same value and is written back as the same JSON:
key order, unicode, integers beyond 2**53 (exact, as Python writes them), nesting; and
both sides refuse what cannot be stored (NaN, Infinity, NUL, cycles) with a clear line."""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import pytest
from nodejs import PACKAGE, node_or_skip

from rhythm.errors import InputError
from rhythm.runtime.payloads import encode

CORPUS: list[Any] = [
    {"z": 1, "a": 2, "m": {"y": [1, 2], "b": None}},  # key order as written
    {"name": "Zoë", "city": "Kraków", "emoji": "🎉", "cjk": "漢字", "rtl": "שלום"},
    {"quote": 'he said "hi"\n\ttab\\slash', "ctrl": "\x01\x1f", "sep": "\u2028"},
    {"big": 2**53 + 1, "bigger": 12345678901234567890123, "neg": -(2**63), "safe": 2**53 - 1},
    {"ints": [0, -1, 9007199254740991], "floats": [0.1, 1.5e-7, 1e300, -2.5]},
    [True, False, None, "", [], {}],
    "just a string",
    42,
    {"deep": [[[[[[[[[[{"x": "12345678901234567890 in a string"}]]]]]]]]]]},
]

REFUSED_BY_BOTH = [
    (float("nan"), "NaN", "NaN and Infinity are not JSON numbers"),
    ({"x": math.inf}, "({x: Infinity})", "NaN and Infinity are not JSON numbers"),
    ({"s": "a\x00b"}, '({s: "a\\u0000b"})', "NUL character"),
]


def _roundtrip(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = node_or_skip()
    done = subprocess.run([node, "test/fixtures/roundtrip.js"], cwd=PACKAGE, text=True,
                          input="".join(json.dumps(x) + "\n" for x in lines),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.split("\n") if line]


def _pairs(text: str) -> Any:
    """The value with every object as its list of (key, value): order compared too."""
    return json.loads(text, object_pairs_hook=lambda pairs: ("object", pairs))


def test_python_payloads_read_and_write_back_the_same_in_node() -> None:
    texts = [encode(value, "value") for value in CORPUS]
    answers = _roundtrip([{"text": t} for t in texts])
    for value, text, answer in zip(CORPUS, texts, answers, strict=True):
        assert "ok" in answer, (value, answer)
        assert _pairs(answer["ok"]) == _pairs(text), (text, answer["ok"])
        assert json.loads(answer["ok"]) == value  # big integers exact
    # (floats may print differently - 1e+300 - but are the same numbers)
    assert answers[0]["ok"] == texts[0] and answers[1]["ok"] == texts[1]
    assert answers[3]["ok"] == texts[3]


@pytest.mark.parametrize(("value", "build", "reason"), REFUSED_BY_BOTH)
def test_what_python_refuses_node_refuses_too(value: Any, build: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        encode(value, "value")
    [answer] = _roundtrip([{"build": build}])
    assert reason in answer.get("error", ""), answer


def test_node_refuses_a_cycle_and_undefined_clearly() -> None:
    answers = _roundtrip([{"build": "(() => { const o = {}; o.me = o; return o })()"},
                          {"build": "({a: undefined})"}, {"build": "({f() {}})"}])
    assert [a.get("error") for a in answers] == [
        "value is not JSON: a cycle at me", "value is not JSON: undefined at a",
        "value is not JSON: a function (f) at f"]


def test_the_one_known_difference_integer_like_keys_come_first_in_javascript() -> None:
    # A JavaScript object lists integer-like keys first (the language's rule, node/README.md).
    [answer] = _roundtrip([{"text": '{"b":1,"2":2,"a":3}'}])
    assert answer == {"ok": '{"2":2,"b":1,"a":3}'}
