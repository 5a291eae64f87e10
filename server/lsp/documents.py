"""Open documents: didOpen, didChange, didSave, didClose, and the `durable-harden/documentText`
request (the server's copy of a document, for tests and bug reports).

The server keeps its own text of every open document and applies each change itself with the
protocol's line semantics (server/documents.py `apply_change`); pygls keeps no copy (its
builtin sync, which splits lines with `str.splitlines`, is replaced in server/lsp/transport.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from durable_harden.analyzers.settings_file import forget
from durable_harden.analyzers.source import LineIndex
from durable_harden.server.documents import (
    Document,
    apply_change,
    apply_change_bytes,
    encode_text,
    kind_of,
)
from durable_harden.server.lsp.core import guard

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer

DOCUMENT_TEXT = "durable-harden/documentText"


def open_document(ls: DurableHardenServer, item: lsp.TextDocumentItem) -> Document | None:
    path_str = to_fs_path(item.uri)
    if path_str is None:
        return None
    path = Path(path_str).resolve()
    doc = Document(item.uri, path, item.version, encode_text(item.text), kind_of(path))
    ls.docs[item.uri] = doc
    return doc


def change_document(
    ls: DurableHardenServer, params: lsp.DidChangeTextDocumentParams
) -> Document | None:
    doc = ls.docs.get(params.text_document.uri)
    if doc is None:  # not open (a protocol error), or not a file (untitled:): not ours
        uri = params.text_document.uri
        if to_fs_path(uri) is not None:
            ls.log_once(Path(uri), "didChange for a document that is not open: ignored")
        return None
    # on the document's bytes while the changes allow it (apply_change_bytes), else as text
    data: bytes | None = doc.data
    lines: LineIndex | None = doc.lines
    text: str | None = None
    for change in params.content_changes:
        if isinstance(change, lsp.TextDocumentContentChangePartial):
            rng = change.range
            start = (rng.start.line, rng.start.character)
            end = (rng.end.line, rng.end.character)
            if data is not None and lines is not None:
                done = apply_change_bytes(data, lines, start, end, change.text, ls.encoding)
                if done is not None:
                    data, lines = done
                    continue
                text = data.decode("utf-8", errors="surrogatepass")
                data = lines = None
            assert text is not None
            text = apply_change(text, start, end, change.text, ls.encoding)
        else:
            text, data, lines = change.text, None, None
    if data is None:
        assert text is not None
        data, lines = encode_text(text), None
    doc.update(params.text_document.version, data, lines)
    return doc


@guard
def did_open(ls: DurableHardenServer, params: lsp.DidOpenTextDocumentParams) -> None:
    doc = open_document(ls, params.text_document)
    if doc is None or doc.kind not in ("source", "config"):
        return
    ls.forget_logged(doc.path)
    root = ls.engine.root_for(doc.path)
    ls.bump(root)
    ls.schedule(root, 0)


@guard
def did_change(ls: DurableHardenServer, params: lsp.DidChangeTextDocumentParams) -> None:
    doc = change_document(ls, params)
    if doc is None or doc.kind not in ("source", "config"):
        return
    root = ls.engine.root_for(doc.path)
    ls.bump(root)
    ls.schedule(root)


@guard
def did_save(ls: DurableHardenServer, params: lsp.DidSaveTextDocumentParams) -> None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is not None and doc.kind == "settings":
        forget(doc.path)
        ls.relint_all()


@guard
def did_close(ls: DurableHardenServer, params: lsp.DidCloseTextDocumentParams) -> None:
    doc = ls.docs.pop(params.text_document.uri, None)
    if doc is None:
        return
    ls.delivered.pop(doc.path, None)
    ls.forget_logged(doc.path)
    ls.engine_forget(doc)
    if doc.kind in ("source", "config"):
        root = ls.engine.root_for(doc.path)
        ls.bump(root)
        if not ls.pull:
            ls.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=[])
            )
        if ls.analysed_docs(root):
            ls.schedule(root)
        else:  # nothing of the project is open: its last analysis is not needed any more
            ls.latest.pop(root, None)
            ls.generation.pop(root, None)


def document_text(ls: DurableHardenServer, params: Any) -> dict[str, Any] | None:
    """`durable-harden/documentText {"uri"}` -> `{"uri", "version", "text"}` (null when the
    document is not open): the server's copy, to compare with the editor's."""
    uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    doc = ls.doc_for(uri) if isinstance(uri, str) else None
    if doc is None:
        return None
    return {"uri": doc.uri, "version": doc.version, "text": doc.text}


def register(server: DurableHardenServer) -> None:
    server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)(did_save)
    server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(DOCUMENT_TEXT)(document_text)


__all__ = ["DOCUMENT_TEXT", "register"]
