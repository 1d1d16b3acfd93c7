"""A real `rhythm lsp` process driven by pytest-lsp's client over stdio, and a small project
for it: the order example's tasks (named in rhythm.toml), its workflow, and two workflows
that call each other."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "orders"

PARENT = """\
const charged = await Workflow.run("billing/charge", { amount: Inputs.amount })
let total = charged.amount
for (const fee of Inputs.fees) {
  total += fee
}
return total
"""

CHILD = 'return await Task.run("charge_card", { orderId: "o", amount: Inputs.amount })\n'


def make_project(root: Path) -> Path:
    """The test project under ``root`` (returned)."""
    (root / "workflows" / "billing").mkdir(parents=True)
    shutil.copy(EXAMPLE / "tasks.py", root / "tasks.py")
    shutil.copy(EXAMPLE / "workflows" / "process_order.flow", root / "workflows")
    (root / "workflows" / "parent.flow").write_text(PARENT)
    (root / "workflows" / "billing" / "charge.flow").write_text(CHILD)
    (root / "rhythm.toml").write_text('tasks = ["tasks"]\n')
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "rhythm",
                                                              "lsp"]))
async def client(lsp_client: LanguageClient, project: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=T.ClientCapabilities(), root_uri=project.as_uri()))
    yield
    await lsp_client.shutdown_session()
