"""Hover: the rule's documentation page (server/ruledocs.py: detection and fix halves, with
`file://` links to both source files) over a finding or over a suppression comment naming it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from durable_harden.analyzers.rules import rule_by_id
from durable_harden.server.documents import Document, to_offset
from durable_harden.server.lsp.engine import Analysis
from durable_harden.server.ruledocs import file_link, page

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer


def hover_text(analysis: Analysis | None, doc: Document, offset: int) -> str | None:
    if analysis is None:
        return None
    for supp in analysis.suppressions.get(doc.path, []):
        if supp.start <= offset <= supp.end:
            parts = [
                page(rule, file_link)
                for rule_id in supp.rules
                if (rule := rule_by_id(rule_id)) is not None
            ]
            if parts:
                return "\n\n---\n\n".join(parts)
    for finding in analysis.findings.get(doc.path, []):
        if finding.span.start <= offset <= finding.span.end:
            rule = rule_by_id(finding.rule_id)
            if rule is not None:
                return page(rule, file_link)
    return None


async def hover(ls: DurableHardenServer, params: lsp.HoverParams) -> lsp.Hover | None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return None
    offset = to_offset(doc.lines, params.position.line, params.position.character, ls.encoding)
    analysis = await ls.current_analysis(doc)
    text = hover_text(analysis, doc, offset)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


def register(server: DurableHardenServer) -> None:
    server.feature(lsp.TEXT_DOCUMENT_HOVER)(hover)


__all__ = ["hover_text", "register"]
