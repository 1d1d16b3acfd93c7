"""Diagnostics: positions, the caret rendering, JSON, and the analyze/check_source entry points."""

from __future__ import annotations

import pytest

from rhythm.errors import CompileError
from rhythm.frontend import analyze, check_source, version_of, workflow_name
from rhythm.frontend.diagnostics import Diagnostic


def test_render_puts_carets_under_the_whole_token() -> None:
    source = "let total = 1\nreturn totl\n"
    [diag] = check_source(source, "wf.flow")
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (2, 8, 2, 12)
    assert diag.render(source) == (
        "wf.flow:2:8: undeclared name 'totl'; did you mean 'total'?\n"
        "    return totl\n"
        "           ^^^^"
    )


def test_render_keeps_tabs_for_alignment() -> None:
    source = "\tlet x = y\n"
    [diag] = check_source(source, "wf.flow")
    assert diag.render(source).splitlines()[2] == "    \t        ^"


def test_render_without_source_is_the_headline() -> None:
    diag = Diagnostic("a.flow", 3, 4, 3, 5, "boom")
    assert diag.render(None) == "a.flow:3:4: boom"


def test_json_shape() -> None:
    diag = Diagnostic("a.flow", 3, 4, 3, 7, "boom")
    assert diag.to_json() == {
        "path": "a.flow",
        "line": 3,
        "column": 4,
        "end_line": 3,
        "end_column": 7,
        "message": "boom",
    }


def test_every_error_of_a_file_in_source_order() -> None:
    source = "x = 1\nlet y = z\nbreak\nawait Task.runn('a')\n"
    diags = check_source(source, "wf.flow")
    assert [(d.line, d.column) for d in diags] == [(1, 1), (2, 9), (3, 1), (4, 12)]


def test_syntax_error_points_at_the_offending_token() -> None:
    diags = check_source("let a = [1, 2\nlet b = 3\n", "wf.flow")
    assert [(d.line, d.column, d.message) for d in diags] == [
        (2, 1, "unexpected keyword 'let', expected ',' or ']'")
    ]


def test_analyze_raises_compile_error_with_all_diagnostics() -> None:
    with pytest.raises(CompileError) as info:
        analyze("let a = b\nlet c = d\n", "wf.flow")
    assert len(info.value.diagnostics) == 2
    assert str(info.value) == "wf.flow:1:9: undeclared name 'b' (and 1 more error)"


def test_analyze_returns_name_version_and_tree() -> None:
    flow = analyze("return 1\r\n", "flows/process_order.flow")
    assert flow.name == "process_order"
    assert flow.version == version_of("return 1\n")
    assert len(flow.version) == 64
    assert analyze("return 1", "x.flow", name="custom").name == "custom"


def test_version_normalises_line_endings() -> None:
    assert version_of("a\r\nb\rc\n") == version_of("a\nb\nc\n")
    assert version_of("a\n") != version_of("a \n")


def test_workflow_name(tmp_path: object) -> None:
    assert workflow_name("workflows/process_order.flow", "workflows") == "process_order"
    assert workflow_name("workflows/billing/refund.flow", "workflows") == "billing/refund"
