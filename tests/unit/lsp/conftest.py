"""A real `rhythm lsp` process driven by pytest-lsp's client over stdio, and a small project
for it: the order example's tasks (named in rhythm.toml), its workflow, and two workflows
that call each other."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as T
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.unit.lsp.helpers import make_project


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
