"""Speed of the flow runtime library: per-operation cost and snapshot codec round trips.

Run: ``.venv/bin/python benchmarks/bench_flowrt.py``. Prints figures; asserts nothing.
Targets (issue 4): plain computation at >= 1M simple operations per second, and encode +
decode of a 10 KB state under 1 ms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rhythm.flowrt import codec, ops


def best_of(repeat: int, fn: Callable[[], Any]) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_ops(n: int = 1_000_000) -> None:
    add, lt, mul, get, truthy = ops.add, ops.lt, ops.mul, ops.get, ops.truthy

    def adds() -> None:
        x = 0
        for _ in range(n):
            x = add(x, 1)

    def lts() -> None:
        for i in range(n):
            lt(i, 500)

    def loop() -> None:
        # for (let i = 0; i < n; i++) { total = total + i * i; if (o.k) ... }: 4 ops a turn
        v = {"i": 0, "total": 0, "o": {"k": 1}}
        while lt(v["i"], n // 4):
            v["total"] = add(v["total"], mul(v["i"], v["i"]))
            truthy(get(v["o"], "k"))
            v["i"] = add(v["i"], 1)

    for name, fn, count in (
        ("add(int, int)", adds, n),
        ("lt(int, int)", lts, n),
        ("loop: lt + mul + add + get + truthy + add", loop, n // 4 * 6),
    ):
        seconds = best_of(3, fn)
        print(
            f"{name:45s} {count:>9,d} calls  {seconds * 1000:8.1f} ms  "
            f"{seconds / count * 1e9:6.1f} ns/op  {count / seconds / 1e6:5.2f} M ops/s"
        )


def state_10kb(shared: bool) -> dict[str, Any]:
    """A workflow-like state of about 10 KB of JSON."""
    items = [
        {"sku": f"SKU-{i:05d}", "qty": i % 7 + 1, "price": 9.99 + i, "tags": ["a", "b"], "ok": True}
        for i in range(130)
    ]
    state: dict[str, Any] = {
        "order": {"id": "o-123", "customer": {"name": "Ada", "email": "ada@example.com"}},
        "items": items,
        "total": 12345.5,
        "log": [f"step {i}" for i in range(20)],
    }
    if shared:
        state["alias"] = items  # two variables sharing one array
        state["first"] = items[0]
        state["order"]["self"] = state["order"]  # a cycle
    return state


def bench_codec() -> None:
    for shared in (False, True):
        state = state_10kb(shared)
        encoded = codec.encode(state)
        size = len(json.dumps(encoded, separators=(",", ":")))
        text = json.dumps(encoded)

        def round_trip(state: dict[str, Any] = state) -> None:
            codec.decode(codec.encode(state))

        encode_s = best_of(200, lambda state=state: codec.encode(state))  # type: ignore[misc]
        decode_s = best_of(200, lambda text=text: codec.decode(json.loads(text)))  # type: ignore[misc]
        both_s = best_of(200, round_trip)
        label = "shared+cycle" if shared else "no sharing"
        print(
            f"codec {label:13s} {size / 1024:5.1f} KB  encode {encode_s * 1e3:.3f} ms  "
            f"decode(+json.loads) {decode_s * 1e3:.3f} ms  encode+decode {both_s * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    bench_ops()
    bench_codec()
