"""The server survives every program of the front end's fuzz corpus: the valid programs and
the token vocabulary of tests/unit/frontend/test_fuzz.py (with the shared conformance cases
when present), the compile-error cases of tests/unit/frontend/errors.txt, and seeded token
soup and random text. Each is sent as an edit, then every request is made at a few
positions; the server must answer each one and still publish diagnostics at the end."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
from lsprotocol import types as T
from pytest_lsp import LanguageClient

from rhythm.frontend.task_index import build_index
from rhythm.lsp import analysis as L
from rhythm.lsp.incremental import IncrementalChecker
from tests.unit.frontend.test_fuzz import TOKENS, VALID
from tests.unit.lsp.helpers import at, change_doc, diagnostics, open_doc

ERRORS = Path(__file__).resolve().parents[1] / "frontend" / "errors.txt"


def corpus() -> list[str]:
    programs = list(VALID)
    cases = ERRORS.read_text(encoding="utf-8").split("\n=== ")[1:]
    programs += [case.partition("\n")[2] for case in cases]
    rng = random.Random(23)
    programs += [" ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 60)))
                 for _ in range(150)]
    alphabet = "abc(){}[]`'\"\\$.;:=+-*/ \n\t\x00é😀"
    programs += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
                 for _ in range(50)]
    return programs


def positions(text: str) -> list[tuple[int, int]]:
    lines = text.split("\n")
    found = [(0, 0)]
    for index in (len(lines) // 2, len(lines) - 1):
        line = lines[index]
        found += [(index, len(line) // 2), (index, len(line))]
    return found


@pytest.mark.asyncio(loop_scope="function")
async def test_server_survives_the_fuzz_corpus(client: LanguageClient, project: Path) -> None:
    uri = open_doc(client, project / "workflows" / "fuzz.flow", "")
    await diagnostics(client, uri)
    programs = corpus()
    assert len(programs) > 300
    for version, text in enumerate(programs, start=2):
        change_doc(client, uri, version, text)
        for line, character in positions(text):
            await client.text_document_hover_async(T.HoverParams(*at(uri, line, character)))
            await client.text_document_completion_async(
                T.CompletionParams(*at(uri, line, character)))
            await client.text_document_definition_async(
                T.DefinitionParams(*at(uri, line, character)))
        await client.text_document_document_symbol_async(
            T.DocumentSymbolParams(text_document=T.TextDocumentIdentifier(uri=uri)))
        assert client.error is None, f"server failed on {text!r}"
    change_doc(client, uri, len(programs) + 2, "return 1\n")
    assert await diagnostics(client, uri) == []


def test_the_analyses_never_raise_on_the_corpus(project: Path) -> None:
    """The same corpus in process, without the server's safety net (which would hide an
    exception behind an empty answer)."""
    tasks = build_index(project, ["tasks"])
    checker = IncrementalChecker()
    last: L.Analysis | None = None
    for text in corpus():
        analysis = L.analyze(text, "fuzz.flow", tasks, checker.analyze)
        for line, character in positions(text):
            pos = (line + 1, character + 1)
            L.hover(analysis, pos, tasks)
            L.completions(analysis, pos, last, tasks, lambda: ["a", "b/c"])
            L.definition(analysis, pos, tasks, {})
            with contextlib.suppress(L.RenameError):
                L.rename(analysis, pos, "renamed")
        L.symbols(analysis)
        if analysis.program is not None:
            last = analysis
