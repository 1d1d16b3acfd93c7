"""CPU a worker's telemetry adds per workflow step, without a database (seconds to run).

    .venv/bin/python benchmarks/observe_overhead.py [--n 20000]

A workflow step costs the worker one task attempt and one activation. This times the
hooks the worker calls for each (rhythm.observe: ``observed`` around both, ``task_done``
and ``workflow_done``), with nothing inside them, under each set-up: off (the worker's
one ``enabled`` check), JSON log fields only, Prometheus metrics, tracing through the
OpenTelemetry API without an SDK, and tracing with the SDK and an exporter that drops
every span (``SimpleSpanProcessor``: the export runs inline, the dearest case). Prints
microseconds per step. It is an estimate of the share, next to the worker's whole CPU
per step (docs/performance.md), not the paired end-to-end runs of the bar.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from rhythm.observe.telemetry import NO_TELEMETRY, Telemetry
from rhythm.runtime.jobs import Claim, Outcome

SNAPSHOT_BYTES = 120  # (measured by the history entry: the hook only records it)


def _claims() -> tuple[Claim, Claim]:
    common: dict[str, Any] = {"inputs": {}, "queue": "default", "max_retries": 3,
                              "lease_losses": 0, "token": 1, "cancel_requested": False,
                              "parent_id": None}
    workflow = Claim(id="w-1", kind="workflow", name="flow", attempt=0, version="v1",
                     options={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
                     **common)
    task = Claim(id="t-1", kind="task", name="noop", attempt=1,
                 options={"traceparent": "00-" + "1" * 32 + "-" + "3" * 16 + "-01"}, **common)
    return workflow, task


async def _steps(telemetry: Telemetry, n: int) -> float:
    workflow, task = _claims()
    outcome = Outcome("t-1", 1, "completed", result="1")

    async def activation(claim: Claim) -> None:
        if telemetry.enabled:
            telemetry.workflow_done(claim, "suspended", None, SNAPSHOT_BYTES)

    async def attempt(claim: Claim) -> None:
        if telemetry.enabled:
            telemetry.task_done(claim, outcome)

    began = time.process_time()
    for _ in range(n):
        for run, claim in ((activation, workflow), (attempt, task)):
            await (telemetry.observed(run, claim) if telemetry.enabled else run(claim))
    return (time.process_time() - began) / n * 1e6


def _setups() -> list[tuple[str, Telemetry]]:
    from rhythm.bench.toggles import dropping_tracer_provider
    from rhythm.observe.metrics import Metrics
    from rhythm.observe.observing import Observing
    from rhythm.observe.tracing import Tracing

    sdk = dropping_tracer_provider(batch=False)
    return [
        ("off", NO_TELEMETRY),
        ("json logs", Observing()),
        ("prometheus metrics", Observing(metrics=Metrics(otel=False, prometheus=True),
                                         log_fields=False)),
        ("tracing, API only (no SDK)", Observing(Tracing(), log_fields=False)),
        ("tracing, SDK + dropping exporter", Observing(Tracing(sdk), log_fields=False)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="steps per set-up")
    n = parser.parse_args().n
    for name, telemetry in _setups():
        asyncio.run(_steps(telemetry, n // 10))  # (warm-up)
        micros = min(asyncio.run(_steps(telemetry, n)) for _ in range(3))
        print(f"{name:34} {micros:7.2f} us per step (task attempt + activation)")


if __name__ == "__main__":
    main()
