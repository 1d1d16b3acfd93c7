"""Compiler and generated-code speed: prints figures, asserts nothing.

(a) plain computation inside a flow (target >= 1M simple operations per second);
(b) ``rhythm build`` of 100 workflows from scratch (target < 10 s) and a no-change
    rebuild (target < 1 s).

Run: ``.venv/bin/python benchmarks/bench_compiler.py``
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rhythm.codegen import compile_flow
from rhythm.codegen.build import build
from rhythm.flowrt.protocol import Completed, Limits, Promise

LOOP = """
let sum = 0
for (let i = 0; i < Inputs.n; i++) {
  sum = sum + i * 2
}
return sum
"""
OPS_PER_ITERATION = 4  # i < n, i * 2, sum + ..., i++


class _QuietHost:
    def __init__(self, n: int) -> None:
        self.inputs = {"n": n}
        self.context: dict[str, object] = {}
        self.limits = Limits(max_ops=10**9)

    def is_settled(self, promise: Promise) -> bool:
        return True


def bench_computation(n: int = 500_000) -> None:
    cls = compile_flow(LOOP, "loop.flow")
    machine = cls.start(_QuietHost(n))  # type: ignore[arg-type]
    started = time.perf_counter()
    step = machine.run()
    elapsed = time.perf_counter() - started
    assert isinstance(step, Completed) and step.result == n * (n - 1)
    ops = n * OPS_PER_ITERATION
    print(
        f"(a) computation: {n:,} iterations in {elapsed:.3f} s = "
        f"{ops / elapsed / 1e6:.2f} M simple ops/s ({n / elapsed / 1e6:.2f} M iterations/s)"
    )


def _workflow(i: int) -> str:
    return f"""// workflow {i}
const order = Inputs.order ?? {{id: {i}}}
const payment = await Task.run("charge_{i}", {{orderId: order.id, amount: {i} * 1.5}})
let shipped = []
for (const item of order.items ?? []) {{
  try {{
    shipped.push(await Task.run("ship", {{item, n: {i}}}))
  }} catch (e) {{
    await Task.run("refund", {{payment: payment.id}})
    throw e
  }} finally {{
    console.log(`item ${{item}} of {i}`)
  }}
}}
const results = await Promise.all(shipped.map(s => Task.run("notify", {{s}})))
return {{payment: payment.id, count: results.length, total: shipped.length * {i}}}
"""


def bench_build(count: int = 100) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flows = root / "workflows"
        flows.mkdir()
        for i in range(count):
            (flows / f"wf_{i:03d}.flow").write_text(_workflow(i), encoding="utf-8")
        cwd = os.getcwd()
        os.chdir(root)
        try:
            started = time.perf_counter()
            report = build(["workflows"], "generated")
            scratch = time.perf_counter() - started
            assert report.ok and len(report.written) == count + 1, report.errors
            started = time.perf_counter()
            report = build(["workflows"], "generated")
            again = time.perf_counter() - started
            assert report.ok and not report.written
        finally:
            os.chdir(cwd)
    print(
        f"(b) build {count} workflows from scratch: {scratch:.2f} s; "
        f"no-change rebuild: {again * 1000:.0f} ms"
    )


if __name__ == "__main__":
    bench_computation()
    bench_build()
