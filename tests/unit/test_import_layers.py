"""The import rules of docs/architecture.md, checked in fresh interpreters.

A worker must run without the build toolchain, and the build side must not drag in the
database driver. Each check imports a layer in a clean subprocess and lists which
forbidden top-level packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_TOOLS = ["parsimonious", "jinja2", "black"]
DATABASE = ["psycopg", "psycopg_pool"]
TELEMETRY = ["opentelemetry", "prometheus_client"]
GOLDEN_MODULE = REPO / "tests" / "golden" / "expected" / "process_order.py"


def loaded_after(statements: str, forbidden: list[str]) -> list[str]:
    """Run ``statements`` in a fresh interpreter; return the forbidden packages it loaded."""
    probe = (
        f"{statements}\n"
        "import json, sys\n"
        f"print(json.dumps(sorted(m for m in {forbidden!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statements",
    [
        "import rhythm, rhythm.flowrt.ops, rhythm.flowrt.machine, rhythm.flowrt.codec",
        "import rhythm.engine.memory, rhythm.engine.promises, rhythm.testing",
        "import rhythm.runtime.worker, rhythm.runtime.client, rhythm.runtime.activation",
        "import rhythm.store, rhythm.store.embedded, rhythm.store.migrations",
        "import rhythm.cli",
        "import rhythm; rhythm.task; rhythm.Client",
        "import rhythm.upgrade.move, rhythm.upgrade.plan, rhythm.cli.upgrade",
    ],
)
def test_run_side_never_loads_the_build_toolchain(statements: str) -> None:
    assert loaded_after(statements, BUILD_TOOLS) == []


def test_generated_modules_load_without_the_build_toolchain() -> None:
    statements = (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('wf', {str(GOLDEN_MODULE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.MACHINE.INFO.name\n"
    )
    assert loaded_after(statements, BUILD_TOOLS + DATABASE) == []


@pytest.mark.parametrize(
    "statements",
    [
        "import rhythm.frontend, rhythm.frontend.parser, rhythm.frontend.checks",
        "import rhythm.compiler, rhythm.codegen, rhythm.codegen.build",
        "from rhythm.codegen import compile_flow; compile_flow('return 1', 'x.flow')",
        "import rhythm.lsp.server, rhythm.lsp.analysis, rhythm.lsp.incremental",
        "import rhythm.cli.check as c; c.project_task_index()",
    ],
)
def test_build_side_never_loads_the_database_driver(statements: str) -> None:
    assert loaded_after(statements, DATABASE) == []


LSP = ["rhythm.lsp", "pygls", "lsprotocol"]


@pytest.mark.parametrize(
    "statements",
    [
        "import rhythm.runtime.worker, rhythm.runtime.client, rhythm.runtime.activation",
        "import rhythm.cli, rhythm.cli.worker, rhythm.observe.logs",
        "from rhythm.runtime.worker import Worker; Worker('postgresql://x/y')",
        "import rhythm; rhythm.Client",
        "from rhythm.cli._observe import build_telemetry as b; b(False, None, '', 1, 'json')",
    ],
)
def test_a_plain_worker_never_loads_telemetry_packages(statements: str) -> None:
    """Tracing and metrics are extras (rhythm[otel], rhythm[metrics]): a worker started
    without --otel or --metrics-port, and the client, never import them."""
    assert loaded_after(statements, TELEMETRY) == []


WEB_STACK = ["starlette", "uvicorn", "multipart", "python_multipart", "rhythm.ui"]


@pytest.mark.parametrize(
    "statements",
    [
        "import rhythm.runtime.worker, rhythm.runtime.client, rhythm.runtime.activation",
        "import rhythm.cli",
        "import rhythm; rhythm.task; rhythm.Client",
    ],
)
def test_a_plain_worker_never_loads_the_language_server(statements: str) -> None:
    assert loaded_after(statements, LSP) == []


@pytest.mark.parametrize(
    "statements",
    [
        "import rhythm.runtime.worker, rhythm.runtime.client, rhythm.runtime.activation",
        "import rhythm.cli",
        "import rhythm; rhythm.task; rhythm.Client",
        "from rhythm.cli.worker import COMMANDS",
    ],
)
def test_a_worker_never_loads_the_web_stack(statements: str) -> None:
    assert loaded_after(statements, WEB_STACK) == []
