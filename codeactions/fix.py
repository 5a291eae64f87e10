"""What a fix is: a title, a safety, byte-offset edits per file, and files to create."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from durable_harden.analyzers.records import frozen

if TYPE_CHECKING:
    from durable_harden.analyzers.findings import Finding

S = TypeVar("S")


class Safety(enum.Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"


@frozen
class Edit:
    """Replace a byte range of one file with new text."""

    path: Path
    start: int  # UTF-8 byte offsets into the file as analysed
    end: int
    new_text: str


@frozen
class NewFile:
    """A file a fix creates."""

    path: Path
    content: str


@dataclass
class Fix:
    """One fix of a finding: its edits and new files, safety and review note."""

    fix_id: str
    title: str
    safety: Safety
    edits: list[Edit] = field(default_factory=list)
    creates: list[NewFile] = field(default_factory=list)
    review: str = ""  # what a reviewer must check before accepting it
    rule_id: str = ""
    # what the fix did, in the terms harden's generated tests use (sql-missing-index:
    # {"indexes": [(index name, table)]}), so nothing re-reads it from the edit text
    facts: dict[str, Any] = field(default_factory=dict)
    # fixes with the same non-empty key never go in together (the edit core defers the later
    # one a round): e.g. "migrations:<config>", each fix numbering the next migration tag
    isolation: str = ""

    @property
    def is_safe(self) -> bool:
        return self.safety is Safety.SAFE

    def files(self) -> set[Path]:
        return {e.path for e in self.edits} | {c.path for c in self.creates}


class CannotFix(Exception):
    """A builder cannot produce a correct fix for this finding; the message says why.

    The one error a fix builder raises to offer nothing; `codeactions.fixes_for` catches and
    logs it (debug level: a finding without a fix is normal). Any other exception from a builder
    is a bug, logged with its traceback, and that builder offers nothing."""


def state_of(finding: Finding, kind: type[S]) -> S:
    """The rule's typed detection state of a finding (`Finding.state`), as its builder expects.

    A finding that arrives without it (rebuilt from JSON, made by hand) or with another rule's
    state cannot be fixed: builders never find the rule's nodes a second time from
    `finding.data`."""
    state = finding.state
    if isinstance(state, kind):
        return state
    if state is None:
        raise CannotFix(
            f"{finding.rule_id} finding has no detection state (made from JSON, not by the rule): "
            "only a finding of this analysis can be fixed"
        )
    raise CannotFix(
        f"{finding.rule_id} finding carries {type(state).__name__}, not {kind.__name__}"
    )


class OverlappingEdits(ValueError):
    pass


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """Apply edits (all for one file) to its bytes. Overlapping edits are refused, never merged
    by guesswork; edits at the same insertion point keep their given order."""
    ordered = sorted(enumerate(edits), key=lambda pair: (pair[1].start, pair[1].end, pair[0]))
    out: list[bytes] = []
    cursor = 0
    for _, edit in ordered:
        if edit.start < cursor or edit.end < edit.start or edit.end > len(data):
            raise OverlappingEdits(
                f"edit {edit.start}-{edit.end} overlaps another or leaves the file"
            )
        out.append(data[cursor : edit.start])
        out.append(edit.new_text.encode("utf-8"))
        cursor = edit.end
    out.append(data[cursor:])
    return b"".join(out)
