"""The test project, and small helpers for talking to the server under test."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

from lsprotocol import types as T
from pytest_lsp import LanguageClient

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


def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
        uri=uri, language_id="flow", version=1,
        text=path.read_text() if text is None else text)))
    return uri


def change_doc(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[T.TextDocumentContentChangeWholeDocument(text=text)]))


async def diagnostics(client: LanguageClient, uri: str, version: int | None = None,
                      timeout: float = 20.0) -> Sequence[T.Diagnostic]:
    """The diagnostics published for ``uri`` after the next publish."""
    client.diagnostics.pop(uri, None)
    async def wait() -> Sequence[T.Diagnostic]:
        while uri not in client.diagnostics:
            await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[uri])
    return await asyncio.wait_for(wait(), timeout)


def at(uri: str, line: int, character: int) -> tuple[T.TextDocumentIdentifier, T.Position]:
    """The document and 0-based position, the first two arguments of a request's params."""
    return T.TextDocumentIdentifier(uri=uri), T.Position(line=line, character=character)


def position_of(text: str, needle: str, offset: int = 0, nth: int = 0) -> tuple[int, int]:
    """0-based (line, character) of ``needle``'s nth occurrence, plus ``offset`` characters."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)
