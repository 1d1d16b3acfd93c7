"""The language server proper: LSP messages in, :mod:`rhythm.lsp.analysis` answers out.

Diagnostics are published per document, debounced while the user types (``DEBOUNCE``
seconds after the last change; at once on open and save). Only the edited document is
re-checked and re-published, so a syntax error in it leaves every other file's diagnostics
as they were. Requests (hover, completion...) use the analysis of the document's current
text, computed on demand if the debounce has not run yet; completion falls back to the
last text that parsed, since the text rarely parses mid-word. No handler may take the
server down: an unexpected exception is logged and answered with "nothing".
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.task_index import TaskIndex
from rhythm.lsp import analysis as L
from rhythm.lsp.incremental import IncrementalChecker
from rhythm.lsp.project import Project

DEBOUNCE = 0.03  # seconds of quiet after a change before the document is re-checked
log = logging.getLogger("rhythm.lsp")
F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {
    "variable": T.CompletionItemKind.Variable, "constant": T.CompletionItemKind.Constant,
    "function": T.CompletionItemKind.Function, "module": T.CompletionItemKind.Module,
    "method": T.CompletionItemKind.Method, "field": T.CompletionItemKind.Field,
    "keyword": T.CompletionItemKind.Keyword, "task": T.CompletionItemKind.Function,
    "workflow": T.CompletionItemKind.File,
}


class RhythmServer(LanguageServer):
    """Per-document analyses and per-project task indexes."""

    def __init__(self) -> None:
        super().__init__("rhythm-lsp", "0.1.0")
        # uri -> (document version, task index it was checked against, analysis)
        self.analyses: dict[str, tuple[int | None, TaskIndex, L.Analysis]] = {}
        self.last_parsed: dict[str, L.Analysis] = {}
        self.projects: dict[Path, Project] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.checker = IncrementalChecker()

    def project(self, path: Path) -> Project:
        found = Project.around(path)
        return self.projects.setdefault(found.root, found)

    def analysis(self, uri: str) -> tuple[L.Analysis, Project]:
        """The analysis of the document's current text (cached per version, and until a
        task module changes on disk)."""
        document = self.workspace.get_text_document(uri)
        path = Path(to_fs_path(uri) or uri)
        project = self.project(path)
        tasks = project.tasks()
        cached = self.analyses.get(uri)
        if cached is not None and document.version is not None \
                and cached[0] == document.version and cached[1] is tasks:
            return cached[2], project
        result = L.analyze(document.source, str(path), tasks, self.checker.analyze)
        self.analyses[uri] = (document.version, tasks, result)
        if result.program is not None:
            self.last_parsed[uri] = result
        return result, project

    def publish(self, uri: str) -> None:
        self.pending.pop(uri, None)
        try:
            result, _ = self.analysis(uri)
            document = self.workspace.get_text_document(uri)
            diagnostics = [_diagnostic(d, T.DiagnosticSeverity.Error, document)
                           for d in result.diagnostics]
            diagnostics += [_diagnostic(d, T.DiagnosticSeverity.Warning, document)
                            for d in result.warnings]
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
                uri=uri, diagnostics=diagnostics, version=document.version))
            L.scoped_bindings(result)  # ready for the completion that usually follows an edit
        except Exception:  # never let a check take the server down
            log.exception("checking %s failed", uri)

    def schedule(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self.pending[uri] = loop.call_later(DEBOUNCE, self.publish, uri)


# The checker counts columns in characters (code points); LSP clients count UTF-16 units
# unless they negotiated otherwise: the document's codec converts both ways.


def _range(span: A.Span, document: TextDocument | None = None) -> T.Range:
    """An LSP range; in the client's units when ``document`` is the file it is in."""
    found = T.Range(T.Position(span.line - 1, span.column - 1),
                    T.Position(span.end_line - 1, span.end_column - 1))
    if document is None:
        return found
    return document.position_codec.range_to_client_units(document.lines, found)


def _diagnostic(diag: Diagnostic, severity: T.DiagnosticSeverity,
                document: TextDocument) -> T.Diagnostic:
    span = A.Span(diag.line, diag.column, diag.end_line, diag.end_column)
    return T.Diagnostic(range=_range(span, document), message=diag.message,
                        severity=severity, source="rhythm")


def _pos(ls: RhythmServer, uri: str, position: T.Position) -> L.Pos:
    document = ls.workspace.get_text_document(uri)
    found = document.position_from_client_units(position)
    return found.line + 1, found.character + 1


def _safe(handler: F) -> F:
    """Answer None instead of failing when a handler meets something unexpected."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except L.RenameError:
            raise
        except Exception:
            log.exception("%s failed", handler.__name__)
            return None

    return wrapped  # type: ignore[return-value]


server = RhythmServer()


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RhythmServer, params: T.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: RhythmServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RhythmServer, params: T.DidSaveTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RhythmServer, params: T.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    handle = ls.pending.pop(uri, None)
    if handle is not None:
        handle.cancel()
    ls.analyses.pop(uri, None)
    ls.last_parsed.pop(uri, None)
    ls.checker.forget(str(Path(to_fs_path(uri) or uri)))
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(T.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def watched_files_changed(ls: RhythmServer, params: T.DidChangeWatchedFilesParams) -> None:
    """A task module, the project file or another workflow changed: re-check open files
    (the task index notices the change by modification time)."""
    for uri in list(ls.analyses):
        ls.schedule(uri)


@server.feature(T.TEXT_DOCUMENT_HOVER)
@_safe
def hover(ls: RhythmServer, params: T.HoverParams) -> T.Hover | None:
    result, project = ls.analysis(params.text_document.uri)
    text = L.hover(result, _pos(ls, params.text_document.uri, params.position), project.tasks())
    if text is None:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))


@server.feature(T.TEXT_DOCUMENT_COMPLETION,
                T.CompletionOptions(trigger_characters=[".", '"', "'"]))
@_safe
def completion(ls: RhythmServer, params: T.CompletionParams) -> T.CompletionList:
    uri = params.text_document.uri
    result, project = ls.analysis(uri)
    path = Path(result.path)
    items = L.completions(result, _pos(ls, uri, params.position), ls.last_parsed.get(uri),
                          project.tasks(), lambda: sorted(project.workflows(path)))
    return T.CompletionList(is_incomplete=False, items=[
        T.CompletionItem(
            label=item.label, kind=_KINDS.get(item.kind), detail=item.detail or None,
            documentation=T.MarkupContent(kind=T.MarkupKind.Markdown, value=item.doc)
            if item.doc else None)
        for item in items
    ])


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
@_safe
def definition(ls: RhythmServer, params: T.DefinitionParams) -> T.Location | None:
    uri = params.text_document.uri
    result, project = ls.analysis(uri)
    found = L.definition(result, _pos(ls, uri, params.position), project.tasks(),
                         project.workflows(Path(result.path)))
    if found is None:
        return None
    if found.path is None:
        return T.Location(uri=uri, range=_range(found.span, ls.workspace.get_text_document(uri)))
    return T.Location(uri=found.path.resolve().as_uri(), range=_range(found.span))


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@_safe
def document_symbols(ls: RhythmServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    result, _ = ls.analysis(params.text_document.uri)
    document = ls.workspace.get_text_document(params.text_document.uri)
    kinds = {"constant": T.SymbolKind.Constant, "variable": T.SymbolKind.Variable}
    return [T.DocumentSymbol(name=s.name, kind=kinds[s.kind], range=_range(s.span, document),
                             selection_range=_range(s.span, document))
            for s in L.symbols(result)]


@server.feature(T.TEXT_DOCUMENT_RENAME)
@_safe
def rename(ls: RhythmServer, params: T.RenameParams) -> T.WorkspaceEdit | None:
    uri = params.text_document.uri
    result, _ = ls.analysis(uri)
    edits = L.rename(result, _pos(ls, uri, params.position), params.new_name)
    document = ls.workspace.get_text_document(uri)
    return T.WorkspaceEdit(changes={uri: [T.TextEdit(range=_range(span, document), new_text=text)
                                          for span, text in edits]})


def main() -> None:
    """Serve over stdin/stdout until the client says exit."""
    server.start_io()
