"""Code actions: quick fixes (a finding's fixes, "disable for this line/file"), fix-all of the
safe fixes in a file (`source.fixAll.durable-harden`), and the harden-all source action
(server/lsp/harden.py). Fixes are built from the analysis of the document's current version;
a diagnostic computed for another version is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.source import LineIndex
from durable_harden.codeactions import Edit, Fix
from durable_harden.codeactions.editcore import DEFAULT_UNSAFE, select_fixes
from durable_harden.codeactions.suppress import disable_for_file, disable_for_line
from durable_harden.server.documents import Document, to_offset
from durable_harden.server.lsp.convert import (
    SOURCE,
    EditBuilder,
    OutsideWorkspace,
    to_range,
    uri_of,
)
from durable_harden.server.lsp.engine import Analysis
from durable_harden.server.lsp.harden import HARDEN_KIND, harden_code_actions

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer

FIX_ALL_KIND = "source.fixAll.durable-harden"


def match_findings(
    ls: DurableHardenServer, analysis: Analysis, doc: Document, diagnostics: list[lsp.Diagnostic]
) -> list[Finding]:
    findings = analysis.findings.get(doc.path, [])
    matched: list[Finding] = []
    for diag in diagnostics:
        if diag.source not in (None, SOURCE):
            continue
        data = diag.data if isinstance(diag.data, dict) else None
        if data is not None and "span" in data:
            if data.get("version") != doc.version:
                continue  # computed for another version of the text: refuse
            start, end = data["span"]
            rule_id = data.get("rule")
        else:
            enc = ls.encoding
            start = to_offset(doc.lines, diag.range.start.line, diag.range.start.character, enc)
            end = to_offset(doc.lines, diag.range.end.line, diag.range.end.character, enc)
            rule_id = str(diag.code) if diag.code is not None else None
        for finding in findings:
            if (
                finding.rule_id == rule_id
                and finding.span.start == start
                and finding.span.end == end
                and finding not in matched
            ):
                matched.append(finding)
                break
    return matched


def edited_lines(analysis: Analysis, path: Path, doc: Document | None) -> LineIndex | None:
    """The text a fix's edits apply to: what the analysis saw, or for a file outside the
    model that a fix edits (package.json) and no editor has open, the file on disk."""
    lines = analysis.lines_of(path)
    if lines is None and doc is None:
        try:
            lines = LineIndex(path.read_bytes())
        except OSError:
            return None
    return lines


def workspace_edit(
    ls: DurableHardenServer, analysis: Analysis, edits: list[Edit], fix: Fix | None = None
) -> lsp.WorkspaceEdit | None:
    """The edit of a fix (or of fix-all's edits), or None when it cannot be offered whole: the
    client cannot create a file it needs, an open buffer moved on, or a file is outside the
    workspace (symlinks resolved)."""
    caps = ls.caps
    by_path: dict[Path, list[Edit]] = {}
    for edit in edits:
        by_path.setdefault(edit.path, []).append(edit)
    creates = fix.creates if fix is not None else []
    if creates and not caps.create_files:
        return None  # the client cannot create files: do not offer half a fix
    builder = EditBuilder(caps, [*ls.folders(), analysis.root])
    for path, file_edits in by_path.items():
        doc = ls.doc_at(path)
        lines = edited_lines(analysis, path, doc)
        if lines is None:
            return None
        if doc is not None and doc.data != lines.data:
            return None  # the open buffer moved on: the offsets no longer fit
        text_edits = [
            lsp.TextEdit(range=to_range(lines, e.start, e.end, caps.encoding), new_text=e.new_text)
            for e in sorted(file_edits, key=lambda e: (e.start, e.end))
        ]
        builder.edit(path, uri_of(path), doc.version if doc is not None else None, text_edits)
    for new in creates:
        builder.create(new.path, uri_of(new.path), new.content, ignore_if_exists=True)
    try:
        return builder.build()
    except OutsideWorkspace as exc:
        ls.log_once(exc.paths[0], f"fix not offered: {exc}")
        return None


def fix_all_edits(analysis: Analysis, doc: Document) -> list[Edit]:
    """The document's fix-all: one round of the edit core (`editcore.select_fixes`, as the
    planner behind `check --fix` runs it): safe fixes, and unsafe ones when `unsafeFixes` is
    on, in priority order, conflicts deferred to the next fix-all, a fix that would break a
    file rolled back; fixes that create files are left to "harden all"."""
    item = analysis.inputs.get(doc.path)
    unsafe = item.settings.unsafe_fixes if item is not None else DEFAULT_UNSAFE
    findings = analysis.findings.get(doc.path, [])
    return select_fixes(findings, analysis.fixes_of, analysis.read, unsafe)


def _diagnostic_for(
    finding: Finding, diagnostics: Sequence[lsp.Diagnostic]
) -> lsp.Diagnostic | None:
    for diag in diagnostics:
        if str(diag.code) == finding.rule_id:
            data = diag.data if isinstance(diag.data, dict) else {}
            if not data or data.get("span") == [finding.span.start, finding.span.end]:
                return diag
    return None


def code_actions(
    ls: DurableHardenServer, analysis: Analysis, doc: Document, params: lsp.CodeActionParams
) -> list[lsp.CodeAction]:
    only = params.context.only or []

    def wanted(kind: str) -> bool:
        return not only or any(kind == k or kind.startswith(f"{k}.") for k in only)

    actions: list[lsp.CodeAction] = []
    data = doc.data
    if wanted(lsp.CodeActionKind.QuickFix):
        for finding in match_findings(ls, analysis, doc, list(params.context.diagnostics)):
            diagnostic = _diagnostic_for(finding, params.context.diagnostics)
            diags = [diagnostic] if diagnostic is not None else None
            fixes = []
            for fix in analysis.fixes_of(finding):
                # the edit core's checks of a fix applied alone (as fix-all and --fix apply it)
                why = analysis.refusal_of(finding, fix)
                if why is None:
                    fixes.append(fix)
                else:
                    ls.log_once(finding.path, f"fix {fix.fix_id!r} not offered: {why}")
            if finding.rule_id != "unused-suppression":
                fixes.append(disable_for_line(finding, data, doc.lines))
                fixes.append(disable_for_file(finding, data, doc.lines))
            for fix in fixes:
                edit = workspace_edit(ls, analysis, fix.edits, fix)
                if edit is None:
                    continue
                builtin = fix.fix_id.startswith("disable-")
                title = fix.title if fix.is_safe else f"{fix.title} (unsafe)"
                actions.append(
                    lsp.CodeAction(
                        title=title,
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=diags,
                        edit=edit,
                        is_preferred=True if fix.is_safe and not builtin else None,
                    )
                )
    if wanted(FIX_ALL_KIND) and (only or params.context.diagnostics):
        edits = fix_all_edits(analysis, doc)
        if edits:
            edit = workspace_edit(ls, analysis, edits)
            if edit is not None:
                actions.append(
                    lsp.CodeAction(
                        title="durable-harden: fix all safe problems in this file",
                        kind=FIX_ALL_KIND,
                        edit=edit,
                    )
                )
    return actions


async def code_action(
    ls: DurableHardenServer, params: lsp.CodeActionParams
) -> list[lsp.CodeAction] | None:
    doc = ls.doc_for(params.text_document.uri)
    if doc is None or doc.kind not in ("source", "config"):
        return None
    version = doc.version
    analysis = await ls.current_analysis(doc)
    if analysis is None or doc.version != version:
        return None  # the text changed while we looked: the client asks again
    return [*code_actions(ls, analysis, doc, params), *harden_code_actions(ls, doc, params)]


def register(server: DurableHardenServer) -> None:
    server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(
            code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL_KIND, HARDEN_KIND],
            resolve_provider=False,
        ),
    )(code_action)


__all__ = ["FIX_ALL_KIND", "fix_all_edits", "register", "workspace_edit"]
