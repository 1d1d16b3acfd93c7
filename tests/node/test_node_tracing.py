"""Tracing across the two languages (docs/nodejs.md, "Tracing"): a Node.js worker with
``otel: true`` makes a span per task attempt, parented by the context stored with the
execution, so a traced workflow on a Python worker and its JavaScript tasks form one
trace; the Node.js client stores its caller's span as the Python client does. Each
worker process writes its spans to a file of its own (tests/db/runtime/otel_spans.py,
node/test/fixtures/otel-setup.js); the test reads them back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from nodejs import PACKAGE, REPO, both_workers, node_or_skip

from rhythm.runtime.client import Client

pytest.importorskip("opentelemetry.sdk", reason="the tracing tests need rhythm[dev]")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

OTEL_SPANS = REPO / "tests" / "db" / "runtime"  # (otel_spans.py: the Python worker's file)


@contextmanager
def traced_workers(node: str, db_url: str, folder: Path) -> Iterator[dict[str, str]]:
    """Both workers traced, writing their spans to python.jsonl and node.jsonl in
    ``folder``."""
    with both_workers(
        node, db_url, python_args=("-m", "otel_spans", "--otel", "--poll", "0.2"),
        python_env={"RHYTHM_TEST_SPANS": str(folder / "python.jsonl"),
                    "PYTHONPATH": os.pathsep.join([str(OTEL_SPANS), str(REPO)])},
        js_env={"RHYTHM_NODE_TEST_SPANS": str(folder / "node.jsonl")},
    ) as env:
        yield env


def spans_of(path: Path, *, hex_ids: bool = False) -> list[dict[str, Any]]:
    """The spans a worker wrote; ids as ints (Node's file has them in hex)."""
    spans = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    if hex_ids:
        for span in spans:
            for key in ("trace_id", "span_id", "parent_id"):
                span[key] = None if span[key] is None else int(span[key], 16)
    return spans


def test_a_traced_workflows_javascript_tasks_join_its_trace(db_url: str,
                                                             tmp_path: Path) -> None:
    node = node_or_skip()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with traced_workers(node, db_url, tmp_path), Client(db_url) as client:
        with provider.get_tracer("test").start_as_current_span("request"):
            run = client.start("node_traced", {"x": 7})
        assert run.result(timeout=60) == [{"attempt": 2}, {"x": 7}]
    [request] = exporter.get_finished_spans()
    trace_id = request.context.trace_id
    python = spans_of(tmp_path / "python.jsonl")
    js = spans_of(tmp_path / "node.jsonl", hex_ids=True)
    activations = {s["span_id"]: s for s in python if s["name"] == "activation node_traced"}
    assert activations and {s["trace_id"] for s in [*python, *js]} == {trace_id}

    flaky = sorted((s for s in js if s["name"] == "task js_flaky_once"),
                   key=lambda s: s["attributes"]["rhythm.attempt"])
    [spanned] = [s for s in js if s["name"] == "task js_spanned"]
    [inner] = [s for s in js if s["name"] == "inner js work"]
    # Each attempt hangs off the activation that started the task; the task's own span
    # (made after an await) off its attempt's.
    assert [s["attributes"]["rhythm.attempt"] for s in flaky] == [1, 2]
    assert all(s["parent_id"] in activations for s in [*flaky, spanned])
    assert inner["parent_id"] == spanned["span_id"]
    # The failed attempt says how it failed; the retried one does not.
    assert flaky[0]["status"] == "ERROR"
    [event] = flaky[0]["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "RangeError"
    assert event["attributes"]["exception.message"] == "the first attempt fails"
    assert "RangeError: the first attempt fails" in event["attributes"]["exception.stacktrace"]
    assert flaky[1]["status"] == "UNSET" and not flaky[1]["events"]
    attributes = spanned["attributes"]
    assert attributes["rhythm.task"] == "js_spanned" and attributes["rhythm.queue"] == "default"
    assert attributes["rhythm.execution_id"] == client.list(name="js_spanned")[0]["id"]
    assert spanned["kind"] == 4  # (SpanKind.CONSUMER of the JavaScript API)


def test_the_node_client_stores_its_callers_span(db_url: str, tmp_path: Path) -> None:
    """Inside a span the Node.js client stores its traceparent with what it queues and
    starts (outside any span nothing): the JavaScript task and the workflow's activations
    run as that span's children."""
    node = node_or_skip()
    with traced_workers(node, db_url, tmp_path) as env, Client(db_url) as client:
        done = subprocess.run([node, "test/fixtures/client-traced.js"], cwd=PACKAGE,
                              env={**env, "RHYTHM_NODE_TEST_SPANS": str(tmp_path / "client.jsonl")},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        ids = json.loads(done.stdout)
        assert client.get(ids["outside"])["options"] == {}
        assert client.get(ids["task"])["options"] == {"traceparent": ids["traceparent"]}
        assert client.get(ids["workflow"])["options"] == {"traceparent": ids["traceparent"]}
        assert client.run(ids["workflow"]).result(timeout=60) == [{"attempt": 2}, {"x": 1}]
        assert client.run(ids["task"]).result(timeout=30) == 7
    request = int(ids["traceparent"][36:52], 16)
    python = spans_of(tmp_path / "python.jsonl")
    js = spans_of(tmp_path / "node.jsonl", hex_ids=True)
    [add] = [s for s in js if s["attributes"].get("rhythm.execution_id") == ids["task"]]
    assert add["parent_id"] == request
    activations = [s for s in python if s["name"] == "activation node_traced"]
    assert activations and {s["parent_id"] for s in activations} == {request}
    [outside] = [s for s in js if s["attributes"].get("rhythm.execution_id") == ids["outside"]]
    assert outside["parent_id"] is None and outside["trace_id"] != add["trace_id"]


def test_a_worker_told_to_trace_without_the_api_says_what_to_install(tmp_path: Path) -> None:
    """The API is an optional peer dependency: a copy of the package whose node_modules
    lacks it runs untraced workers, and a worker with ``otel: true`` stops at ``run()``
    with one line saying what to install, before it connects anywhere."""
    node = node_or_skip()
    copy = tmp_path / "package"
    shutil.copytree(PACKAGE / "src", copy / "src")
    shutil.copy(PACKAGE / "package.json", copy)
    (copy / "sql").symlink_to(REPO / "rhythm" / "store" / "sql")
    (copy / "node_modules").mkdir()
    for entry in (PACKAGE / "node_modules").iterdir():
        if entry.name != "@opentelemetry":
            (copy / "node_modules" / entry.name).symlink_to(entry)
    script = copy / "traced.mjs"
    script.write_text(
        "import { Worker } from './src/index.js'\n"
        "const worker = new Worker({ databaseUrl: 'postgresql://nobody@127.0.0.1:1/none',"
        " otel: true, handleSignals: false })\n"
        "await worker.run().then(() => console.log('ran'), (err) => console.log(err.message))\n")
    done = subprocess.run([node, str(script)], cwd=copy, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "otel: true needs the OpenTelemetry API: npm install @opentelemetry/api (and "
        "configure an SDK, e.g. @opentelemetry/sdk-trace-node, before the worker runs)")
