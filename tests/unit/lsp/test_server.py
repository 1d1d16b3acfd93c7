"""`rhythm lsp` driven over stdio by a real LSP client (pytest-lsp): diagnostics as a
document is edited, hover, completion, definition, symbols and rename on the order
example, the golden workflows and a small project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lsprotocol import types as T
from pytest_lsp import LanguageClient

from tests.unit.lsp.helpers import (
    CHILD,
    PARENT,
    REPO,
    at,
    change_doc,
    diagnostics,
    open_doc,
    position_of,
)

pytestmark = pytest.mark.asyncio(loop_scope="function")
GOLDEN = REPO / "tests" / "golden" / "flows"


async def test_diagnostics_appear_and_clear_as_the_document_changes(
        client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "workflows" / "parent.flow")
    assert await diagnostics(client, uri) == []
    change_doc(client, uri, 2, PARENT.replace("total += fee", "totl += fee"))
    [diag] = await diagnostics(client, uri)
    assert diag.severity == T.DiagnosticSeverity.Error
    assert "undeclared name 'totl'; did you mean 'total'?" in diag.message
    assert (diag.range.start.line, diag.range.start.character) == (3, 2)
    change_doc(client, uri, 3, PARENT.replace("total += fee", "total += (fee"))  # syntax
    [syntax] = await diagnostics(client, uri)
    assert syntax.range.start.line in (3, 4)
    change_doc(client, uri, 4, PARENT)
    assert await diagnostics(client, uri) == []


async def test_a_syntax_error_leaves_other_files_diagnostics_alone(
        client: LanguageClient, project: Path) -> None:
    bad = project / "workflows" / "bad.flow"
    bad.write_text("return nope\n")
    bad_uri = open_doc(client, bad)
    assert len(await diagnostics(client, bad_uri)) == 1
    uri = open_doc(client, project / "workflows" / "parent.flow")
    await diagnostics(client, uri)
    change_doc(client, uri, 2, "let = \n")
    assert len(await diagnostics(client, uri)) == 1
    assert len(client.diagnostics[bad_uri]) == 1  # still shown, not re-published empty


async def test_unknown_task_and_bad_inputs_are_warnings(
        client: LanguageClient, project: Path) -> None:
    text = 'await Task.run("charge_crd", {})\nawait Task.run("ship_order", {orderId: 1})\n'
    uri = open_doc(client, project / "workflows" / "parent.flow", text)
    found = await diagnostics(client, uri)
    assert [d.severity for d in found] == [T.DiagnosticSeverity.Warning] * 2
    assert "did you mean 'charge_card'?" in found[0].message
    assert "missing 'customer'" in found[1].message


async def test_hover_shows_builtin_docs_variables_and_tasks(
        client: LanguageClient, project: Path) -> None:
    path = project / "workflows" / "process_order.flow"
    text = path.read_text()
    uri = open_doc(client, path)
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, *position_of(text, "Task.run", offset=6))))
    assert hover is not None and "Task.run(name, inputs = {}, options = {})" in str(hover.contents)
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, *position_of(text, "Signal.next", offset=1))))
    assert "Waits for signals" in str(hover.contents)  # type: ignore[union-attr]
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, *position_of(text, "approval.approved", offset=2))))
    assert "let approval" in str(hover.contents)  # type: ignore[union-attr]
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, *position_of(text, '"ship_order"', offset=3))))
    assert "task ship_order(orderId, customer)" in str(hover.contents)  # type: ignore[union-attr]


async def test_hover_on_methods_of_values(client: LanguageClient, project: Path) -> None:
    text = 'let s = Inputs.name.trim()\nreturn [1].map(x => x)\n'
    uri = open_doc(client, project / "workflows" / "parent.flow", text)
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, 0, 21)))
    assert "trim()" in str(hover.contents)  # type: ignore[union-attr]
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, 1, 12)))
    assert "map(x => ...)" in str(hover.contents)  # type: ignore[union-attr]


async def labels(client: LanguageClient, uri: str, line: int, character: int) -> list[str]:
    result = await client.text_document_completion_async(
        T.CompletionParams(*at(uri, line, character)))
    assert isinstance(result, T.CompletionList)
    return [item.label for item in result.items]


async def test_completion_at_several_positions(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "workflows" / "parent.flow")
    await diagnostics(client, uri)
    # Inside the loop body: the loop variable and the outer variables are in scope.
    inside = await labels(client, uri, 3, 2)
    assert {"fee", "total", "charged", "Task", "Math", "const"} <= set(inside)
    # After the loop: its variable is not.
    after = await labels(client, uri, 5, 0)
    assert "total" in after and "fee" not in after
    # Before a declaration: it is not offered yet.
    assert "total" not in await labels(client, uri, 1, 0)
    # Members of a namespace, typed mid-edit (the text does not parse).
    change_doc(client, uri, 2, PARENT + "Math.\n")
    members = await labels(client, uri, 6, 5)
    assert {"floor", "max", "PI"} <= set(members) and "run" not in members
    change_doc(client, uri, 3, PARENT + "total.\n")
    assert {"toUpperCase", "map", "length"} <= set(await labels(client, uri, 6, 6))
    # Task names and sibling workflow names inside the first argument.
    change_doc(client, uri, 4, PARENT + 'await Task.run("\n')
    tasks = await labels(client, uri, 6, 16)
    assert set(tasks) == {"charge_card", "refund_payment", "cancel_order", "ship_order"}
    change_doc(client, uri, 5, PARENT + 'await Workflow.run("b\n')
    assert await labels(client, uri, 6, 21) == ["billing/charge", "parent", "process_order"]
    # The task's parameters at a key of its inputs object (those not given yet).
    change_doc(client, uri, 6, PARENT + 'await Task.run("ship_order", { orderId: 1, \n')
    keys = await labels(client, uri, 6, 43)
    assert "customer" in keys and "orderId" not in keys


async def test_completion_of_context_aliases_in_the_wrapper_form(
        client: LanguageClient, project: Path) -> None:
    text = (GOLDEN / "process_order.flow").read_text()
    uri = open_doc(client, project / "workflows" / "golden.flow", text + "\n")
    line, _ = position_of(text, "return {payment")
    items = await labels(client, uri, line, 2)
    assert {"payment", "shipment", "ctx", "order"} <= set(items) and "e" not in items
    change_doc(client, uri, 2, text.replace("return {payment", "ctx.\n  return {payment"))
    assert await labels(client, uri, line, 6) == sorted(
        ["executionId", "startedAt", "version", "workflowName"])


async def test_definition_of_variables_workflows_and_tasks(
        client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "workflows" / "parent.flow")
    found = await client.text_document_definition_async(
        T.DefinitionParams(*at(uri, *position_of(PARENT, "charged.amount"))))
    assert isinstance(found, T.Location) and found.uri == uri
    assert (found.range.start.line, found.range.start.character) == (0, 6)
    found = await client.text_document_definition_async(
        T.DefinitionParams(*at(uri, *position_of(PARENT, "billing/charge"))))
    assert isinstance(found, T.Location)
    assert found.uri == (project / "workflows" / "billing" / "charge.flow").resolve().as_uri()
    child = open_doc(client, project / "workflows" / "billing" / "charge.flow")
    found = await client.text_document_definition_async(
        T.DefinitionParams(*at(child, *position_of(CHILD, "charge_card"))))
    assert isinstance(found, T.Location)
    assert found.uri == (project / "tasks.py").resolve().as_uri()
    tasks_text = (project / "tasks.py").read_text()
    assert (found.range.start.line, found.range.start.character) == position_of(
        tasks_text, "charge_card(")


async def test_document_symbols(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "workflows" / "process_order.flow")
    symbols = await client.text_document_document_symbol_async(
        T.DocumentSymbolParams(text_document=T.TextDocumentIdentifier(uri=uri)))
    assert symbols is not None
    assert [(s.name, s.kind) for s in symbols] == [  # type: ignore[union-attr]
        ("payment", T.SymbolKind.Constant), ("approval", T.SymbolKind.Variable),
        ("err", T.SymbolKind.Variable), ("shipment", T.SymbolKind.Constant)]


async def test_rename_a_variable_across_its_scope(client: LanguageClient, project: Path) -> None:
    text = ("let fee = 1\nconst o = {fee}\nfor (const fee of [2]) { o.x = fee }\n"
            "return fee + o.fee\n")
    uri = open_doc(client, project / "workflows" / "parent.flow", text)
    edit = await client.text_document_rename_async(T.RenameParams(
        *at(uri, 0, 4), new_name="cost"))
    assert edit is not None and edit.changes is not None
    edits = sorted((e.range.start.line, e.range.start.character, e.new_text)
                   for e in edit.changes[uri])
    # The loop's own `fee` is another variable; the shorthand keeps its key.
    assert edits == [(0, 4, "cost"), (1, 11, "fee: cost"), (3, 7, "cost")]
    with pytest.raises(Exception, match="reserved word or a built-in"):
        await client.text_document_rename_async(T.RenameParams(
            *at(uri, 0, 4), new_name="Math"))


@pytest.mark.parametrize("flow", sorted(GOLDEN.glob("*.flow")), ids=lambda p: p.stem)
async def test_golden_workflows_are_clean_and_answer_every_request(
        client: LanguageClient, project: Path, flow: Path) -> None:
    text = flow.read_text()
    uri = open_doc(client, project / "workflows" / flow.name, text)
    found = await diagnostics(client, uri)  # their tasks are not the example's: warnings only
    assert all(d.severity == T.DiagnosticSeverity.Warning for d in found)
    symbols = await client.text_document_document_symbol_async(
        T.DocumentSymbolParams(text_document=T.TextDocumentIdentifier(uri=uri)))
    assert symbols
    for line in range(len(text.splitlines())):
        await client.text_document_hover_async(T.HoverParams(*at(uri, line, 4)))
        assert await labels(client, uri, line, 0)


async def test_positions_are_in_the_clients_utf16_units(
        client: LanguageClient, project: Path) -> None:
    text = 'let s = "😀😀"; let t = totl\n'  # each emoji is two UTF-16 units
    uri = open_doc(client, project / "workflows" / "parent.flow", text)
    [diag] = await diagnostics(client, uri)
    assert (diag.range.start.character, diag.range.end.character) == (24, 28)  # `totl`
    hover = await client.text_document_hover_async(
        T.HoverParams(*at(uri, 0, 20)))
    assert "let t" in str(hover.contents)  # type: ignore[union-attr]
    edit = await client.text_document_rename_async(T.RenameParams(
        *at(uri, 0, 21), new_name="u"))
    assert edit is not None and edit.changes is not None
    [change] = edit.changes[uri]
    assert (change.range.start.character, change.range.end.character) == (20, 21)


async def test_definition_and_rename_in_the_golden_wrapper_form(
        client: LanguageClient, project: Path) -> None:
    text = (GOLDEN / "process_order.flow").read_text()
    uri = open_doc(client, project / "workflows" / "golden.flow", text)
    use = position_of(text, "payment.id", nth=0)
    found = await client.text_document_definition_async(
        T.DefinitionParams(*at(uri, *use)))
    assert isinstance(found, T.Location)
    assert (found.range.start.line, found.range.start.character) == position_of(
        text, "payment =")
    edit = await client.text_document_rename_async(T.RenameParams(
        *at(uri, *use), new_name="charge"))
    assert edit is not None and edit.changes is not None
    assert len(edit.changes[uri]) == 3  # not the keys `payment:` and `paymentId:`
    with pytest.raises(Exception, match="only a variable declared in this file"):
        await client.text_document_rename_async(T.RenameParams(
            *at(uri, *position_of(text, "order.id")), new_name="o"))


async def test_a_task_module_changed_on_disk_updates_the_warnings(
        client: LanguageClient, project: Path) -> None:
    text = 'await Task.run("audit", {})\n'
    uri = open_doc(client, project / "workflows" / "parent.flow", text)
    [warning] = await diagnostics(client, uri)
    assert "unknown task 'audit'" in warning.message
    tasks = project / "tasks.py"
    tasks.write_text(tasks.read_text() + "\n\n@rhythm.task\ndef audit() -> None: ...\n")
    os.utime(tasks, (tasks.stat().st_atime, tasks.stat().st_mtime + 5))  # a later save
    client.workspace_did_change_watched_files(T.DidChangeWatchedFilesParams(changes=[
        T.FileEvent(uri=tasks.as_uri(), type=T.FileChangeType.Changed)]))
    assert await diagnostics(client, uri) == []
