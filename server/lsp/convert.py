"""Conversions between the analyzers' world (paths, UTF-8 byte offsets, findings, fixes) and
the protocol's (URIs, positions in the negotiated encoding, Diagnostics, WorkspaceEdits), and
what the client said it can do (`ClientCaps`, read once from its capabilities).

Every WorkspaceEdit the server hands a client (quick fixes, fix-all, harden all) is built by
`EditBuilder`, which also confines it: a file whose resolved path (symlinks included) is not
inside a workspace root is refused, and the URI sent is the client's own (never the resolved
outside path). No handler lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from durable_harden.analyzers.findings import Finding, Severity
from durable_harden.analyzers.rules import rule_by_id
from durable_harden.analyzers.source import LineIndex
from durable_harden.server.documents import to_position
from durable_harden.server.lsp.engine import Analysis

SOURCE = "durable-harden"

SEVERITY = {
    Severity.ERROR: lsp.DiagnosticSeverity.Error,
    Severity.WARNING: lsp.DiagnosticSeverity.Warning,
    Severity.INFO: lsp.DiagnosticSeverity.Information,
    Severity.HINT: lsp.DiagnosticSeverity.Hint,
}


def cap(obj: Any, *names: str) -> Any:
    """A nested client capability, or None when any step is missing."""
    for name in names:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


# -- client capabilities -----------------------------------------------------------------------
@dataclass(frozen=True)
class ClientCaps:
    """What the client can do, as the server's features need it (read once per session)."""

    encoding: str = "utf-16"
    pull: bool = False
    document_changes: bool = False
    create_files: bool = False
    annotations: bool = False
    related_information: bool = False
    code_description: bool = True
    unnecessary_tag: bool = False
    diagnostic_refresh: bool = False
    work_done_progress: bool = False
    show_document: bool = False
    configuration: bool = False
    watch_registration: bool = False

    @classmethod
    def of(cls, capabilities: Any, encoding: str = "utf-16") -> ClientCaps:
        edit = cap(capabilities, "workspace", "workspace_edit")
        ops = [str(getattr(op, "value", op)) for op in cap(edit, "resource_operations") or []]
        # resource operations exist only inside `documentChanges`: a client that lists `create`
        # (Neovim does, without saying `documentChanges: true`) applies documentChanges that
        # create files; other edits keep the form it asked for
        document_changes = bool(cap(edit, "document_changes"))
        publish = cap(capabilities, "text_document", "publish_diagnostics")
        pull = cap(capabilities, "text_document", "diagnostic")
        related = cap(publish, "related_information")
        if related is None:
            related = cap(pull, "related_information")
        return cls(
            encoding=encoding,
            pull=pull is not None,
            document_changes=document_changes,
            create_files="create" in ops,
            annotations=document_changes and cap(edit, "change_annotation_support") is not None,
            related_information=bool(related),
            # no capabilities at all (a bare client): send the link
            code_description=bool(cap(publish, "code_description_support")) or not capabilities,
            unnecessary_tag=bool(cap(publish, "tag_support")),
            diagnostic_refresh=bool(
                cap(capabilities, "workspace", "diagnostics", "refresh_support")
            ),
            work_done_progress=bool(cap(capabilities, "window", "work_done_progress")),
            show_document=bool(cap(capabilities, "window", "show_document", "support")),
            configuration=bool(cap(capabilities, "workspace", "configuration")),
            watch_registration=bool(
                cap(capabilities, "workspace", "did_change_watched_files", "dynamic_registration")
            ),
        )


# -- ranges ------------------------------------------------------------------------------------
def to_range(lines: LineIndex, start: int, end: int, encoding: str) -> lsp.Range:
    sl, sc = to_position(lines, start, encoding)
    el, ec = to_position(lines, end, encoding)
    return lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


# -- diagnostics -------------------------------------------------------------------------------
def diagnostics_for(analysis: Analysis, path: Path, caps: ClientCaps) -> list[lsp.Diagnostic]:
    """The diagnostics of one file of an analysis, as this client can take them."""
    lines = analysis.lines_of(path)
    if lines is None:
        return []
    version = analysis.version_of(path)
    out: list[lsp.Diagnostic] = []
    for finding in analysis.findings.get(path, []):
        out.append(_diagnostic(analysis, finding, lines, version, caps))
    return out


def _diagnostic(
    analysis: Analysis, finding: Finding, lines: LineIndex, version: int | None, caps: ClientCaps
) -> lsp.Diagnostic:
    rule = rule_by_id(finding.rule_id)
    related = None
    if caps.related_information and finding.related:
        related = []
        for item in finding.related:
            other = analysis.lines_of(item.span.path)
            if other is None:
                continue
            related.append(
                lsp.DiagnosticRelatedInformation(
                    location=lsp.Location(
                        uri=from_fs_path(str(item.span.path)) or "",
                        range=to_range(other, item.span.start, item.span.end, caps.encoding),
                    ),
                    message=item.message,
                )
            )
    return lsp.Diagnostic(
        range=to_range(lines, finding.span.start, finding.span.end, caps.encoding),
        message=finding.message,
        severity=SEVERITY[finding.severity],
        code=finding.rule_id,
        code_description=lsp.CodeDescription(href=rule.url)
        if rule is not None and caps.code_description
        else None,
        source=SOURCE,
        related_information=related,
        tags=[lsp.DiagnosticTag.Unnecessary]
        if caps.unnecessary_tag and finding.rule_id == "unused-suppression"
        else None,
        data={
            "rule": finding.rule_id,
            "message_id": finding.message_id,
            "version": version,
            "span": [finding.span.start, finding.span.end],
            "finding": finding.data,
        },  # what a code action needs to find the finding again (fixes are built then, from
        # the current analysis); absent data is matched by range and code
    )


# -- workspace edits ---------------------------------------------------------------------------
class OutsideWorkspace(ValueError):
    """An edit for a file whose resolved path is outside every workspace root."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        super().__init__(
            "refusing to edit outside the workspace: " + ", ".join(str(p) for p in self.paths)
        )


def confined(path: Path, roots: Iterable[Path]) -> bool:
    """The path, resolved (symlinks of the file and of every folder above it), is inside one
    of the roots: the rule the CLI's writer applies (server/writer.py)."""
    from durable_harden.server.writer import inside

    return ".." not in path.parts and any(inside(root, path) for root in roots)


class EditBuilder:
    """One WorkspaceEdit, shaped for the client: `documentChanges` (versioned edits, file
    creations, change annotations) when it takes them, else plain `changes`.

    Every path is checked against the workspace roots when added (`OutsideWorkspace`)."""

    def __init__(self, caps: ClientCaps, roots: Sequence[Path]) -> None:
        self.caps = caps
        self.roots = [r.resolve() for r in roots]
        self.document_changes: list[Any] = []
        self.changes: dict[str, list[lsp.TextEdit | lsp.AnnotatedTextEdit]] = {}
        self.annotations: dict[str, lsp.ChangeAnnotation] = {}
        self.outside: list[Path] = []
        self.count = 0
        self.creates = False

    def check(self, path: Path) -> bool:
        """Note a path outside the roots (`build` then raises); True when it is inside."""
        if self.roots and not confined(path, self.roots):
            self.outside.append(path)
            return False
        return True

    def edit(
        self,
        path: Path,
        uri: str,
        version: int | None,
        edits: Sequence[lsp.TextEdit | lsp.AnnotatedTextEdit],
    ) -> None:
        if not self.check(path):
            return
        self.count += len(edits)
        self.document_changes.append(
            lsp.TextDocumentEdit(
                text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=list(edits),
            )
        )
        self.changes.setdefault(uri, []).extend(edits)

    def create(
        self,
        path: Path,
        uri: str,
        text: str,
        annotation: str | None = None,
        ignore_if_exists: bool = False,
    ) -> None:
        """CreateFile + one insert of the whole text (only for clients with `create`)."""
        if not self.caps.create_files:
            raise ValueError("the client cannot create files")
        if not self.check(path):
            return
        self.creates = True
        annotation = annotation if self.caps.annotations else None
        options = (
            lsp.CreateFileOptions(ignore_if_exists=True)
            if ignore_if_exists
            else lsp.CreateFileOptions(overwrite=False, ignore_if_exists=False)
        )
        self.document_changes.append(
            lsp.CreateFile(uri=uri, options=options, annotation_id=annotation)
        )
        # the whole (empty) new document, its one empty line included: an end past the last
        # line is the document's end (LSP), and Neovim then drops the empty line it holds for an
        # empty buffer (else `:w` writes the new file with an extra blank line at its end)
        whole = lsp.Range(lsp.Position(0, 0), lsp.Position(1, 0))
        insert: lsp.TextEdit | lsp.AnnotatedTextEdit = (
            lsp.AnnotatedTextEdit(annotation_id=annotation, range=whole, new_text=text)
            if annotation is not None
            else lsp.TextEdit(range=whole, new_text=text)
        )
        self.document_changes.append(
            lsp.TextDocumentEdit(
                text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                edits=[insert],
            )
        )
        self.count += 1

    def annotate(self, table: Mapping[str, lsp.ChangeAnnotation]) -> None:
        self.annotations.update(table)

    def build(self) -> lsp.WorkspaceEdit:
        if self.outside:
            raise OutsideWorkspace(self.outside)
        # plain `changes` for a client that did not ask for `documentChanges`, unless the edit
        # creates files (only offered to a client listing the `create` resource operation)
        if not self.caps.document_changes and not self.creates:
            # annotated edits exist only with documentChanges: these are plain TextEdits
            return lsp.WorkspaceEdit(changes=self.changes)  # type: ignore[arg-type]
        return lsp.WorkspaceEdit(
            document_changes=self.document_changes,
            change_annotations=self.annotations
            if self.caps.annotations and self.annotations
            else None,
        )


__all__ = [
    "SOURCE",
    "ClientCaps",
    "EditBuilder",
    "OutsideWorkspace",
    "cap",
    "confined",
    "diagnostics_for",
    "to_range",
    "uri_of",
]
