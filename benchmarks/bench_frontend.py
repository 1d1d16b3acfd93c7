"""Front-end speed: parse + check a generated, realistic 500-line workflow.

Run: ``.venv/bin/python benchmarks/bench_frontend.py [--lines 500] [--runs 7]``.
Prints the median wall time of several runs (the grammar is compiled once, before timing,
as it is in a long-lived process; the one-off compile time is printed separately).
Target (issue 3): a 500-line workflow parses and checks in under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

from script_errors import run_main

STEP = """\
// step {i}: charge, wait for approval, record the outcome
let order{i} = await Task.run("load-order", {{ orderId: Inputs.orderIds[{i} % count] }})
const total{i} = order{i}.items.reduce((sum, it) => sum + it.qty * it.price, 0)
if (total{i} > 1_000 && !order{i}.vip) {{
  try {{
    const approval = await Signal.next("approve-{i}", {{ timeout: "48h" }})
    log.push(`order ${{order{i}.id}} approved by ${{approval?.by ?? "nobody"}}`)
  }} catch (err) {{
    await Task.run("notify", {{ reason: err.message, retries: 3 }}, {{ retries: 2, queue: "mail" }})
    continue
  }} finally {{
    attempts += 1
  }}
}}
for (const item of order{i}.items.filter(x => x.qty > 0)) {{
  if (item.sku.startsWith("X-")) {{ skipped++; continue }}
  results.push({{ sku: item.sku, cost: Math.round(item.qty * item.price * 100) / 100 }})
}}
const pending{i} = [Task.run("reserve", {{ id: order{i}.id }}), Timer.delay("5m")]
let winner{i} = await Promise.race(pending{i})
summary[order{i}.id] = {{ total: total{i}, winner: winner{i} == null ? "timer" : "task", n: {i} }}
"""

HEADER = """\
// generated benchmark workflow
let log = []
let results = []
let summary = {}
let attempts = 0
let skipped = 0
const count = Inputs.orderIds.length
for (let round = 0; round < 3; round++) {
"""

FOOTER = """\
}
console.log("done", attempts, skipped)
return { log, results, summary, attempts: attempts, ok: log.length > 0 || results.length >= 0 }
"""


def generate(lines: int) -> str:
    """A workflow of about ``lines`` lines made of realistic steps inside a loop."""
    parts = [HEADER]
    count = HEADER.count("\n") + FOOTER.count("\n")
    i = 0
    while count < lines:
        step = STEP.format(i=i)
        parts.append(step)
        count += step.count("\n")
        i += 1
    parts.append(FOOTER)
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from rhythm.frontend import check_source
    from rhythm.frontend.parser import grammar

    started = time.perf_counter()
    grammar()
    compile_time = time.perf_counter() - started

    source = generate(args.lines)
    diags = check_source(source, "bench.flow")
    if diags:
        raise SystemExit(
            "benchmark workflow has errors:\n" + "\n".join(d.headline() for d in diags)
        )
    times = []
    cpu_times = []  # CPU time too: wall time is inflated when other processes share the cores
    for _ in range(args.runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        check_source(source, "bench.flow")
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    lines = source.count("\n")
    print(f"grammar compile (once per process): {compile_time * 1000:.0f} ms")
    median_ms = statistics.median(times) * 1000
    print(
        f"parse+check {lines} lines ({len(source)} chars): median {median_ms:.0f} ms"
        f" over {args.runs} runs (min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms)"
    )
    print(f"CPU time: median {statistics.median(cpu_times) * 1000:.0f} ms")


if __name__ == "__main__":
    run_main("bench_frontend", main)
