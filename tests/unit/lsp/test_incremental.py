"""The chunked checker gives exactly what the whole-file checker gives: same diagnostics and
the same tree, on the examples, the golden workflows, the error cases, the fuzz corpus, and
a long workflow edited one character at a time (with the chunk cache warm)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks.lsp_latency import workflow
from rhythm.frontend import analyze_source
from rhythm.lsp.incremental import IncrementalChecker, chunks
from tests.unit.lsp.helpers import EXAMPLE, REPO
from tests.unit.lsp.test_fuzz_corpus import corpus

FILES = [EXAMPLE / "workflows" / "process_order.flow",
         *sorted((REPO / "tests" / "golden" / "flows").glob("*.flow"))]


def same(checker: IncrementalChecker, source: str) -> None:
    program, _, diags = checker.analyze(source, "wf.flow")
    full_program, _, full_diags = analyze_source(source, "wf.flow")
    assert diags == full_diags, source
    assert program == full_program, source


def test_chunks_cover_the_text_and_cut_at_statements() -> None:
    source = ('let a = "x // y"\nconst b = `t${ {k: `i${1}`} }\nlet no`\n'
              "do {\n  a++\n}\nwhile (a < 3)\nif (a) {\n  let c\n}\n")
    pieces = chunks(source)
    assert "".join(text for _, text in pieces) == source
    assert [line for line, _ in pieces] == [1, 2, 4, 8]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_examples_and_golden(path: Path) -> None:
    same(IncrementalChecker(), path.read_text())


def test_fuzz_corpus_and_error_cases() -> None:
    checker = IncrementalChecker()
    for source in corpus():
        same(checker, source)


def test_a_long_workflow_edited_character_by_character() -> None:
    rng = random.Random(7)
    checker = IncrementalChecker()
    source = workflow(120)
    same(checker, source)
    for _ in range(40):
        at = rng.randrange(len(source))
        edited = source[:at] + rng.choice(["", "x", "(", "}", "`", '"', "\n", "const "]) \
            + source[at + 1:]
        same(checker, edited)
        same(checker, source)  # and back, from the cache


def test_lines_added_above_move_the_cached_chunks() -> None:
    checker = IncrementalChecker()
    source = workflow(120)
    same(checker, source)
    for inserted in ("\n", "\n\n// note\n", "const extra = 1\n"):
        edited = inserted + source
        same(checker, edited)
    parsed_before = len(checker.parsed)
    same(checker, "\n" * 5 + source)
    assert len(checker.parsed) == parsed_before + 1  # only the first chunk was parsed
