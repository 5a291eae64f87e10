"""What a rule reports, and what a rule is. (`Span` and `Related` live in the leaf module
`analyzers/span.py`; they are re-exported here.)"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_harden.analyzers.docs_links import rule_doc_url
from durable_harden.analyzers.span import Related, Span

if TYPE_CHECKING:
    from durable_harden.analyzers.model import ProjectModel


__all__ = ["Finding", "Related", "Rule", "RuleDocs", "Severity", "Span"]


class Severity(enum.IntEnum):
    HINT = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().upper().replace("INFORMATION", "INFO")]
        except KeyError:
            raise ValueError(f"unknown severity {value!r} (error, warning, info, hint)") from None


@dataclass
class Finding:
    rule_id: str
    message: str
    span: Span
    severity: Severity
    related: list[Related] = field(default_factory=list)
    # What must travel as JSON (LSP Diagnostic.data, `check --output-format json`): the rule's
    # facts about the finding as plain values. Fix builders do not read nodes back from it.
    data: dict[str, Any] = field(default_factory=dict)
    # The rule's typed detection state for its fix builder (live tree-sitter nodes, the
    # `SqlStatement`s, the `DurableObjectClass`): one small frozen dataclass defined in the rule
    # module, or None. Never serialised, compared or printed; a finding rebuilt from JSON has
    # none, and a builder that needs it then raises `CannotFix` (codeactions/fix.py `state_of`).
    state: object | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> Path:
        return self.span.path

    def sort_key(self) -> tuple[str, int, str]:
        return (str(self.span.path), self.span.start, self.rule_id)


@dataclass(frozen=True)
class RuleDocs:
    what: str
    why: str
    example: str
    fix: str
    references: tuple[str, ...]

    def markdown(self, rule_id: str, title: str, severity: Severity) -> str:
        refs = "\n".join(f"- {ref}" for ref in self.references)
        return (
            f"# {rule_id}\n\n{title} (default severity: {severity.name.lower()})\n\n"
            f"## What it does\n{self.what.strip()}\n\n"
            f"## Why it matters\n{self.why.strip()}\n\n"
            f"## Example\n{self.example.strip()}\n\n"
            f"## Fix and its safety\n{self.fix.strip()}\n\n"
            f"## References\n{refs}\n"
        )


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    docs: RuleDocs
    check: Callable[[ProjectModel], Iterable[Finding]]

    @property
    def url(self) -> str:
        return rule_doc_url(self.id)  # the installed page (analyzers/docs_links.py)

    def markdown(self) -> str:
        return self.docs.markdown(self.id, self.title, self.severity)

    def finding(
        self,
        message: str,
        span: Span,
        related: Iterable[Related] = (),
        data: dict[str, Any] | None = None,
        severity: Severity | None = None,
        state: object | None = None,
    ) -> Finding:
        return Finding(
            rule_id=self.id,
            message=message,
            span=span,
            severity=severity or self.severity,
            related=list(related),
            data=dict(data or {}),
            state=state,
        )
