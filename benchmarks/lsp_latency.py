"""`rhythm lsp` latency on a 500-line workflow: prints figures, asserts nothing.

(a) diagnostics after an edit: the time from sending a one-character change (which makes
    an error, then fixes it) to receiving the published diagnostics of that version; this
    includes the server's debounce (rhythm/lsp/server.py DEBOUNCE). Target <= 150 ms.
    Also shown apart: an empty line inserted near the top (every statement below moves).
(b) completion: the round trip of a completion request in the middle of the file.
    Target <= 50 ms.

A real server process over stdio, driven by pygls' client. Medians and maxima of N runs.
Run: ``.venv/bin/python benchmarks/lsp_latency.py [--runs N]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.client import BaseLanguageClient


def workflow(lines: int = 500) -> str:
    """A realistic workflow of ``lines`` lines: tasks, conditions, templates, loops."""
    out = ['const order = Inputs.order', 'let total = 0']
    i = 0
    while len(out) + 5 < lines - 1:
        out += [
            f'const r{i} = await Task.run("charge_card", {{orderId: order.id, amount: {i}}})',
            f'if (r{i}.amount > 3 && order.items.length > {i % 7}) {{',
            f'  total += r{i}.amount',
            f'  console.log(`step {i}: ${{r{i}.amount}}`)',
            '}',
        ]
        i += 1
    while len(out) < lines - 1:
        out.append(f"total = total + {len(out)}")
    out.append("return total")
    return "\n".join(out) + "\n"


async def measure(runs: int) -> None:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rhythm-lsp-bench-") as folder:
        await _measure_in(Path(folder), runs, load)


async def _measure_in(root: Path, runs: int, load: tuple[float, float, float]) -> None:
    (root / "workflows").mkdir()
    (root / "rhythm.toml").write_text("")
    path = root / "workflows" / "big.flow"
    text = workflow()
    path.write_text(text)
    uri = path.as_uri()
    published: dict[int, float] = {}
    client = BaseLanguageClient("bench", "1")

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: T.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            published[params.version] = time.perf_counter()
        published[-1] = time.perf_counter()

    await client.start_io(sys.executable, "-m", "rhythm", "lsp")
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(),
                                                     root_uri=root.as_uri()))
    client.initialized(T.InitializedParams())
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(uri=uri, language_id="flow", version=1, text=text)))
    await _wait(published, -1)
    broken = text.replace("total += r7.amount", "totl += r7.amount")
    lines_of = text.split("\n")
    # A line inserted (Enter) near the top: every statement below moves down one line.
    inserted = "\n".join([*lines_of[:9], "", *lines_of[9:]])
    diag_ms: list[float] = []
    shifted_ms: list[float] = []
    completion_ms: list[float] = []
    for run in range(runs):
        published.pop(-1, None)
        version = 2 + run
        body = (broken, text, inserted, text)[run % 4]
        start = time.perf_counter()
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[T.TextDocumentContentChangeWholeDocument(text=body)]))
        await _wait(published, -1)
        (shifted_ms if body is inserted else diag_ms).append((published[-1] - start) * 1000)
        start = time.perf_counter()
        await client.text_document_completion_async(T.CompletionParams(
            text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(250, 2)))
        completion_ms.append((time.perf_counter() - start) * 1000)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    lines = len(text.splitlines())
    print(f"load average before/after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs; figures grow with load)")
    print(f"diagnostics after an edit, {lines}-line workflow: median "
          f"{statistics.median(diag_ms):.0f} ms, max {max(diag_ms):.0f} ms (target <= 150 ms)")
    print(f"diagnostics after a line is inserted near the top: median "
          f"{statistics.median(shifted_ms):.0f} ms, max {max(shifted_ms):.0f} ms")
    print(f"completion, {lines}-line workflow: median {statistics.median(completion_ms):.1f} ms, "
          f"max {max(completion_ms):.1f} ms (target <= 50 ms)")


async def _wait(published: dict[int, float], key: int, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while key not in published:
        if time.perf_counter() > deadline:
            raise TimeoutError("no diagnostics published")
        await asyncio.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="edits to measure")
    asyncio.run(measure(parser.parse_args().runs))


if __name__ == "__main__":
    main()
