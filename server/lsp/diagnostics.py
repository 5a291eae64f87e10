"""Diagnostics: pushed (`textDocument/publishDiagnostics` with the version) to clients without
pull support, and answered by `textDocument/diagnostic` (with a resultId derived from the
inputs) for clients that pull. The diagnostics themselves are built on the analysis worker
(server/lsp/convert.py `diagnostics_for`); this module only decides what to send when.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from durable_harden.server.documents import Document
from durable_harden.server.lsp.convert import SOURCE
from durable_harden.server.lsp.core import RULESET_VERSION
from durable_harden.server.lsp.engine import Analysis

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer


def fingerprint(diagnostics: list[lsp.Diagnostic]) -> str:
    parts = [
        (
            d.range.start.line,
            d.range.start.character,
            d.range.end.line,
            d.range.end.character,
            d.code,
            d.message,
        )
        for d in diagnostics
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def publish(ls: DurableHardenServer, analysis: Analysis) -> None:
    for path, item in analysis.inputs.items():
        doc = ls.doc_at(path)
        if doc is None or doc.version != item.version or doc.data != item.data:
            continue  # closed, or changed since: a newer analysis is on its way
        diagnostics = ls.diagnostics_of(analysis, path)
        ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=diagnostics, version=item.version)
        )


def refresh_if_stale(ls: DurableHardenServer, analysis: Analysis) -> None:
    """Pull clients only ask again for the document they edit: when an analysis changed what
    another open document was last told (a schema or wrangler edit elsewhere), ask the client
    to pull again (`workspace/diagnostic/refresh`)."""
    if not ls.caps.diagnostic_refresh:
        return
    for path in analysis.diagnostics:
        told = ls.delivered.get(path)
        if told is not None and told != fingerprint(ls.diagnostics_of(analysis, path)):
            with contextlib.suppress(Exception):
                ls.workspace_diagnostic_refresh(None)
            return


def on_analysis(ls: DurableHardenServer, analysis: Analysis) -> None:
    if ls.pull:
        refresh_if_stale(ls, analysis)
    else:
        publish(ls, analysis)


def result_id(ls: DurableHardenServer, doc: Document) -> str:
    settings, found = ls.settings_for(doc.path)
    root = ls.engine.root_for(doc.path)
    digest = hashlib.sha256()
    digest.update(doc.data)
    digest.update(repr(settings).encode())
    digest.update(str(found.path if found else "").encode())
    digest.update(RULESET_VERSION.encode())
    digest.update(str(ls.generation.get(root, 0)).encode())
    digest.update(ls.encoding.encode())
    # other files change this document's findings too (a schema elsewhere): the id also carries
    # what the latest analysis says of it, so a re-pull after a refresh sees it
    latest = ls.latest.get(root)
    if latest is not None and doc.path in latest.inputs:
        digest.update(fingerprint(ls.diagnostics_of(latest, doc.path)).encode())
    return digest.hexdigest()[:24]


async def pull_diagnostics(
    ls: DurableHardenServer, params: lsp.DocumentDiagnosticParams
) -> lsp.DocumentDiagnosticReport:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return lsp.RelatedFullDocumentDiagnosticReport(items=[])
    root = ls.engine.root_for(doc.path)
    latest = ls.latest.get(root)
    if (
        params.previous_result_id == result_id(ls, doc)
        and latest is not None
        and ls.fresh(latest, doc)
    ):
        return lsp.RelatedUnchangedDocumentDiagnosticReport(result_id=params.previous_result_id)
    analysis = await ls.current_analysis(doc)
    if analysis is None:
        return lsp.RelatedFullDocumentDiagnosticReport(items=[])
    items = ls.diagnostics_of(analysis, doc.path)
    ls.delivered[doc.path] = fingerprint(items)
    answer = result_id(ls, doc)  # after the analysis: it names what we answer with
    if params.previous_result_id == answer:
        return lsp.RelatedUnchangedDocumentDiagnosticReport(result_id=answer)
    return lsp.RelatedFullDocumentDiagnosticReport(items=items, result_id=answer)


def register(server: DurableHardenServer) -> None:
    server.analysis_listeners.append(lambda analysis: on_analysis(server, analysis))
    server.feature(
        lsp.TEXT_DOCUMENT_DIAGNOSTIC,
        lsp.DiagnosticOptions(
            identifier=SOURCE, inter_file_dependencies=True, workspace_diagnostics=False
        ),
    )(pull_diagnostics)


__all__ = ["fingerprint", "publish", "register", "result_id"]
