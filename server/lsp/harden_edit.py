"""The one WorkspaceEdit of "harden all" (server/lsp/harden.py): which fix produced each hunk.

`build_edit` turns a harden plan into the edit the client applies: line hunks from
`editcore.minimal_edits` per modified file, `CreateFile` + one insert per new file, each hunk
annotated with the pattern (rule) whose fix produced it (`trace_owners`); unsafe patterns'
`ChangeAnnotation`s have `needsConfirmation: true` (VS Code then opens its refactor preview).
Built by server/lsp/convert.py's `EditBuilder` (the same builder as quick fixes): plain `changes`
for a client without `documentChanges`, no annotations for a client without
`changeAnnotationSupport`, and every path confined to the workspace roots (symlinks resolved).

No pygls import at module level besides types.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from lsprotocol import types as lsp

from durable_harden.analyzers.source import LineIndex
from durable_harden.server.documents import to_position
from durable_harden.server.lsp.convert import ClientCaps, EditBuilder, uri_of

if TYPE_CHECKING:
    from durable_harden.codeactions.harden.plan import AppliedFix, HardenPlan

GENERATED_ANNOTATION = "durable-harden:generated"
REVIEW_ANNOTATION = "durable-harden:review"


# -- tracing hunks back to the fixes that produced them ------------------------------------------
Region = tuple[int, int]


def trace_owners(plan: HardenPlan) -> dict[Path, list[tuple[Region, AppliedFix]]]:
    """Where each applied fix's text ended up in the final bytes of each file: the provenance
    the edit core recorded while the planner applied the rounds (`codeactions.editcore`). A
    file whose history could not be traced is left out (its hunks get the file's most cautious
    annotation)."""
    out: dict[Path, list[tuple[Region, AppliedFix]]] = {}
    for path in plan.changes():
        regions = plan.provenance.of(path)
        if regions is None:
            continue
        out[path] = [((r.start, r.end), cast("AppliedFix", r.owner)) for r in regions]
    return out


def _line_bounds(data: bytes, pos: int) -> tuple[int, int]:
    """Start and end (after its newline) of the line holding `pos`."""
    start = data.rfind(b"\n", 0, pos) + 1
    end = data.find(b"\n", pos)
    return start, len(data) if end < 0 else end + 1


def owners_of(
    traced: list[tuple[Region, AppliedFix]], after: bytes, hunk: Region
) -> list[tuple[Region, list[AppliedFix]]]:
    """The fixes behind one hunk (final-byte range `hunk`), split into line-granular segments
    where the hunk's text comes from different fixes. An empty list of fixes: untraced.

    A pure deletion (empty hunk) belongs to the deletions (point regions) on the lines around
    it (a fix often deletes from the end of the previous line, difflib shows whole lines),
    else to a fix whose text surrounds it."""
    c, d = hunk
    if c == d:
        lo = _line_bounds(after, c - 1)[0] if c > 0 else 0
        hi = _line_bounds(after, c)[1] if c < len(after) else c
        hits = [a for (x, y), a in traced if x == y and lo <= x <= hi]
        if not hits:
            hits = [a for (x, y), a in traced if x < c < y]
        return [(hunk, hits)]
    cuts = {c, d}
    for (x, y), _ in traced:
        for pos in (x, y):
            if c < pos < d and after[pos - 1 : pos] == b"\n":
                cuts.add(pos)
    points = sorted(cuts)
    pieces: list[tuple[Region, list[AppliedFix]]] = []
    for start, end in itertools.pairwise(points):
        hits = [
            a for (x, y), a in traced if (x < end and start < y) or (x == y and start <= x <= end)
        ]
        pieces.append(((start, end), hits))
    return pieces


def _caution(applied: AppliedFix) -> tuple[int, int, int]:
    """Sort key: unsafe first, then priority tier, then round."""
    return (0 if not applied.fix.is_safe else 1, applied.tier, applied.round)


# -- annotations ---------------------------------------------------------------------------------
@dataclass
class _Annotation:
    rule_id: str
    safe: bool
    label: str
    parts: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"durable-harden:{self.rule_id}:{'safe' if self.safe else 'unsafe'}"

    def add(self, text: str) -> None:
        text = " ".join(text.split())
        if text and text not in self.parts:
            self.parts.append(text)

    def to_lsp(self) -> lsp.ChangeAnnotation:
        return lsp.ChangeAnnotation(
            label=self.label,
            needs_confirmation=not self.safe,
            description=" ".join(self.parts) or None,
        )


def annotation_for(applied: AppliedFix, table: dict[str, _Annotation]) -> str:
    from durable_harden.codeactions.harden.labels import pattern_label

    safe = applied.fix.is_safe
    pattern = pattern_label(applied.rule_id, applied.fix.title)
    label = f"durable-harden: {pattern}" if safe else f"durable-harden: {pattern} (unsafe, review)"
    note = _Annotation(applied.rule_id, safe, label)
    note = table.setdefault(note.key, note)
    who = f"{applied.class_name}: " if applied.class_name else ""
    if safe:
        note.add(f"{who}{applied.fix.title}.")
    else:
        note.add(f"{who}review: {applied.fix.review or applied.fix.title}")
    return note.key


# -- the workspace edit --------------------------------------------------------------------------
@dataclass
class OpenSnapshot:
    uri: str
    version: int | None
    data: bytes


@dataclass
class BuiltEdit:
    edit: lsp.WorkspaceEdit
    server_writes: dict[Path, bytes]  # new files the client cannot create (the caller decides)
    hunks: int
    annotations: dict[str, lsp.ChangeAnnotation]


def _uri(path: Path, open_docs: Mapping[Path, OpenSnapshot]) -> str:
    """The client's own URI for an open document; otherwise the URI pygls would build (of the
    path as the workspace names it, never of where a symlink leads)."""
    snap = open_docs.get(path)
    return snap.uri if snap is not None else uri_of(path)


def build_edit(
    plan: HardenPlan,
    caps: ClientCaps,
    open_docs: Mapping[Path, OpenSnapshot],
    roots: Sequence[Path],
) -> BuiltEdit:
    """One WorkspaceEdit for the whole plan (see the module docstring for the fallbacks).
    Raises `OutsideWorkspace` when a file of the plan resolves outside every root."""
    from durable_harden.codeactions.editcore import minimal_edits

    encoding = caps.encoding
    changes = plan.changes()
    owners = trace_owners(plan)
    table: dict[str, _Annotation] = {}
    generated: _Annotation | None = None
    review: _Annotation | None = None

    def file_fallback(path: Path) -> str:
        """The most cautious annotation of the fixes that touch the file."""
        nonlocal generated, review
        touching = [
            a
            for a in plan.applied
            if path in {e.path for e in a.fix.edits} | {c.path for c in a.fix.creates}
        ]
        if touching:
            return annotation_for(min(touching, key=_caution), table)
        if path in plan.generated:
            if generated is None:
                generated = _Annotation("generated", True, "durable-harden: generated files")
                table[GENERATED_ANNOTATION] = generated
            generated.add(plan.generated[path])
            return GENERATED_ANNOTATION
        if review is None:
            review = _Annotation("review", False, "durable-harden: changes to review")
            table[REVIEW_ANNOTATION] = review
            review.add("A change harden made that could not be traced to a single fix.")
        return REVIEW_ANNOTATION

    def choose(path: Path, hits: list[AppliedFix]) -> str:
        if not hits:
            return file_fallback(path)
        keys = {annotation_for(a, table) for a in hits}
        if len(keys) == 1:
            return keys.pop()
        return annotation_for(min(hits, key=_caution), table)

    def annotate(path: Path, after: bytes, hunk: Region) -> list[tuple[Region, str]]:
        """Line-granular pieces of a hunk, each with its annotation (neighbours merged)."""
        traced = owners.get(path)
        if traced is None:
            return [(hunk, file_fallback(path))]
        merged: list[tuple[Region, str]] = []
        for (start, end), hits in owners_of(traced, after, hunk):
            key = choose(path, hits)
            if merged and merged[-1][1] == key:
                merged[-1] = ((merged[-1][0][0], end), key)
            else:
                merged.append(((start, end), key))
        return merged

    builder = EditBuilder(caps, roots)
    server_writes: dict[Path, bytes] = {}
    for path, (before, after) in changes.items():
        uri = _uri(path, open_docs)
        if before is None:
            key = choose(path, [a for _, a in owners.get(path, [])])
            if not caps.create_files:
                server_writes[path] = after
                continue
            builder.create(path, uri, after.decode("utf-8"), annotation=key)
            continue
        lines = LineIndex(before)
        text_edits: list[lsp.TextEdit | lsp.AnnotatedTextEdit] = []
        shift = 0
        for start_byte, end_byte, new_text in minimal_edits(before, after):
            length = len(new_text.encode("utf-8"))
            hunk = (start_byte + shift, start_byte + shift + length)
            shift += length - (end_byte - start_byte)
            sl, sc = to_position(lines, start_byte, encoding)
            el, ec = to_position(lines, end_byte, encoding)
            rng = lsp.Range(lsp.Position(sl, sc), lsp.Position(el, ec))
            pieces = annotate(path, after, hunk)  # collected even without annotation support
            if not caps.annotations:
                text_edits.append(lsp.TextEdit(range=rng, new_text=new_text))
                continue
            # the first piece replaces the hunk's old lines, the others insert after it, in order
            end_pos = rng.end
            for number, ((a, b), key) in enumerate(pieces):
                piece = after[a:b].decode("utf-8")
                text_edits.append(
                    lsp.AnnotatedTextEdit(
                        annotation_id=key,
                        range=rng if number == 0 else lsp.Range(end_pos, end_pos),
                        new_text=piece,
                    )
                )
        snap = open_docs.get(path)
        builder.edit(path, uri, snap.version if snap is not None else None, text_edits)
    for path in server_writes:
        builder.check(path)
    annotations = {key: note.to_lsp() for key, note in sorted(table.items())}
    builder.annotate(annotations)
    return BuiltEdit(builder.build(), server_writes, builder.count, annotations)


__all__ = ["BuiltEdit", "OpenSnapshot", "build_edit", "owners_of", "trace_owners"]
