"""OpenTelemetry tracing across a real worker process: the client's span, the
workflow's activations, its task attempts (a failed one recording its exception) and a
child workflow with its own task form one trace (docs/observability.md, "Tracing")."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import spawn_worker, stop_workers, wait_for

from rhythm.runtime.client import AsyncClient, Client

pytest.importorskip("opentelemetry.sdk", reason="the tracing tests need rhythm[dev]")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from otel_spans import as_dict

TRACED = ("-m", "otel_spans", "-m", "observe_tasks", "--otel")
FLOWS = {
    "traced_parent": """
const a = await Task.run("flaky", { key: Inputs.key, failures: 1 })
const kid = await Workflow.run("traced_child", { x: 1 })
return [a, kid]
""",
    "traced_child": """
return await Task.run("spanned", { x: Inputs.x })
""",
    "traced_napper": """
const slept = await Task.run("nap", { seconds: 2 })
return [slept, await Workflow.run("traced_child", { x: 5 })]
""",
}


def _client_tracer() -> tuple[Any, InMemorySpanExporter]:
    """A tracer of this process's own (not the global provider: other tests share it)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def _worker_spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_one_trace_from_client_start_through_tasks_and_a_child(
    client: Client, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, source in FLOWS.items():
        (tmp_path / f"{name}.flow").write_text(source)
    spans_file = tmp_path / "spans.jsonl"
    monkeypatch.setenv("RHYTHM_TEST_SPANS", str(spans_file))
    proc = spawn_worker(db_url, *TRACED, "--flows", str(tmp_path), "--poll", "0.2")
    tracer, exporter = _client_tracer()
    try:
        with tracer.start_as_current_span("request"):
            run = client.start("traced_parent", {"key": f"traced-{uuid.uuid4().hex}"})
        assert run.result(timeout=30) == ["ok after 2", 2]
    finally:
        stop_workers([proc])
    [request] = [as_dict(s) for s in exporter.get_finished_spans()]
    spans = _worker_spans(spans_file)
    assert spans, proc.stderr.read() if proc.stderr else "no spans"
    assert {s["trace_id"] for s in spans} == {request["trace_id"]}  # one trace

    by_id = {s["span_id"]: s for s in spans}
    parent_acts = [s for s in spans if s["name"] == "activation traced_parent"]
    child_acts = [s for s in spans if s["name"] == "activation traced_child"]
    flaky = sorted((s for s in spans if s["name"] == "task flaky"),
                   key=lambda s: s["attributes"]["rhythm.attempt"])
    [spanned] = [s for s in spans if s["name"] == "task spanned"]
    [inner] = [s for s in spans if s["name"] == "inner work"]

    # Every activation of the workflow is a child of the client's span.
    assert len(parent_acts) >= 2
    assert {s["parent_id"] for s in parent_acts} == {request["span_id"]}
    # Its task's attempts and its child workflow hang off its activations...
    assert [s["attributes"]["rhythm.attempt"] for s in flaky] == [1, 2]
    assert {by_id[s["parent_id"]]["name"] for s in flaky} == {"activation traced_parent"}
    assert child_acts and {by_id[s["parent_id"]]["name"] for s in child_acts} \
        == {"activation traced_parent"}
    # ... and the child's task off the child's activation; the task's own span (a sync
    # task: on a worker thread) off its attempt's.
    assert by_id[spanned["parent_id"]]["name"] == "activation traced_child"
    assert inner["parent_id"] == spanned["span_id"]

    # The failed attempt records its exception; the one that succeeds does not.
    assert flaky[0]["status"] == "ERROR"
    [event] = [e for e in flaky[0]["events"] if e["name"] == "exception"]
    assert event["attributes"]["exception.type"] == "OSError"
    assert flaky[1]["status"] == "UNSET" and not flaky[1]["events"]

    first = parent_acts[0]["attributes"]
    assert first["rhythm.execution_id"] == run.id
    assert first["rhythm.workflow"] == "traced_parent"
    assert first["rhythm.queue"] == "default"
    assert first["rhythm.version"]
    assert flaky[0]["attributes"]["rhythm.task"] == "flaky"
    assert flaky[0]["attributes"]["rhythm.execution_id"] != run.id


@pytest.mark.slow
def test_the_trace_goes_on_across_a_worker_sigkill(
    client: Client, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The context lives in the rows: a worker killed mid-task loses only its open span;
    the next worker's attempt, activations and the child join the same trace."""
    for name, source in FLOWS.items():
        (tmp_path / f"{name}.flow").write_text(source)
    spans_file = tmp_path / "spans.jsonl"
    monkeypatch.setenv("RHYTHM_TEST_SPANS", str(spans_file))
    args = (*TRACED, "--flows", str(tmp_path), "--poll", "0.2", "--lease", "1")
    tracer, exporter = _client_tracer()
    first = spawn_worker(db_url, *args)
    second = None
    try:
        with tracer.start_as_current_span("request"):
            run = client.start("traced_napper")
        wait_for(lambda: any(s["name"] == "activation traced_napper"
                             for s in _worker_spans(spans_file)), timeout=30,
                 what="the first activation's span")
        wait_for(lambda: client.get(run.id)["status"] == "suspended", what="waiting on nap")
        first.kill()  # SIGKILL mid-nap: its task span never ends
        first.communicate(timeout=10)
        second = spawn_worker(db_url, *args)
        assert run.result(timeout=40) == ["slept 2", 6]
    finally:
        if first.poll() is None:
            first.kill()
        stop_workers([second] if second is not None else [])
    [request] = [as_dict(s) for s in exporter.get_finished_spans()]
    spans = _worker_spans(spans_file)
    assert {s["trace_id"] for s in spans} == {request["trace_id"]}
    by_id = {s["span_id"]: s for s in spans}
    naps = [s for s in spans if s["name"] == "task nap"]
    assert [s["attributes"]["rhythm.attempt"] for s in naps] == [2]  # (the first: killed)
    assert by_id[naps[0]["parent_id"]]["name"] == "activation traced_napper"
    [spanned] = [s for s in spans if s["name"] == "task spanned"]
    assert by_id[spanned["parent_id"]]["name"] == "activation traced_child"
    assert {s["parent_id"] for s in spans if s["name"] == "activation traced_napper"} \
        == {request["span_id"]}


@pytest.mark.slow
def test_executions_started_outside_a_span_are_traced_apart(
    client: Client, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing stored, no parent: on a one-slot worker each task starts as the one before
    it ends, and must not become a child of that one's span (a context copied from it),
    nor a workflow's activation a child of the task that resumes it."""
    (tmp_path / "traced_child.flow").write_text(FLOWS["traced_child"])
    spans_file = tmp_path / "spans.jsonl"
    monkeypatch.setenv("RHYTHM_TEST_SPANS", str(spans_file))
    tasks = [client.queue_task("add", {"a": i, "b": 1}) for i in range(4)]
    run = client.start("traced_child", {"x": 7})
    proc = spawn_worker(db_url, *TRACED, "--flows", str(tmp_path), "--poll", "0.2",
                        "--concurrency", "1")
    try:
        assert [task.result(timeout=30) for task in tasks] == [1, 2, 3, 4]
        assert run.result(timeout=30) == 8
    finally:
        stop_workers([proc])
    spans = _worker_spans(spans_file)
    adds = [s for s in spans if s["name"] == "task add"]
    assert len(adds) == 4
    assert [s["parent_id"] for s in adds] == [None] * 4
    assert len({s["trace_id"] for s in adds}) == 4
    activations = [s for s in spans if s["name"] == "activation traced_child"]
    [spanned] = [s for s in spans if s["name"] == "task spanned"]
    assert len(activations) == 2 and [s["parent_id"] for s in activations] == [None, None]
    assert spanned["parent_id"] == activations[0]["span_id"]


def test_the_client_stores_its_current_context_only(client: Client, db_url: str) -> None:
    """Inside a span, a start or enqueue stores its W3C traceparent in the execution's
    options; outside any span nothing is stored: the options stay as they were."""
    assert client.get(client.queue_task("add", {"a": 1, "b": 2}).id)["options"] == {}
    tracer, _ = _client_tracer()
    with tracer.start_as_current_span("request") as span:
        run = client.queue_task("add", {"a": 1, "b": 2})
    context = span.get_span_context()
    [stored] = client.get(run.id)["options"].items()
    assert stored[0] == "traceparent"
    assert stored[1].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")

    async def start_async() -> tuple[str, str]:  # (the async client shares the code)
        async with AsyncClient(db_url) as async_client:
            with tracer.start_as_current_span("async request") as span:
                started = await async_client.queue_task("add", {"a": 1, "b": 2})
        return started.id, f"{span.get_span_context().span_id:016x}"

    async_id, span_id = asyncio.run(start_async())
    assert client.get(async_id)["options"]["traceparent"][36:52] == span_id


def test_bulk_enqueues_store_the_callers_context(client: Client, db_url: str) -> None:
    """``queue_tasks`` and ``start_many`` store the caller's traceparent with every row, as
    a single enqueue does; outside a span the options stay empty."""
    outside = client.queue_tasks([("add", {"a": 1, "b": 2})])
    assert client.get(outside[0].id)["options"] == {}
    tracer, _ = _client_tracer()
    with tracer.start_as_current_span("bulk request") as span:
        tasks = client.queue_tasks([("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4})])
        workflows = client.start_many([("traced_child", {"x": 1})])
    context = span.get_span_context()
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    for run in [*tasks, *workflows]:
        assert client.get(run.id)["options"] == {"traceparent": expected}

    async def start_async() -> tuple[str, str]:
        async with AsyncClient(db_url) as async_client:
            with tracer.start_as_current_span("async bulk") as span:
                [queued] = await async_client.queue_tasks([("add", {"a": 1, "b": 2})])
        return queued.id, f"{span.get_span_context().span_id:016x}"

    async_id, span_id = asyncio.run(start_async())
    assert client.get(async_id)["options"]["traceparent"][36:52] == span_id
