"""What a rule reports, and what a rule is. (`Span` and `Related` live in the leaf module
`analyzers/span.py`; they are re-exported here.)"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from durable_harden.analyzers.docs_links import rule_doc_url
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.span import Related, Span

if TYPE_CHECKING:
    from durable_harden.analyzers.model import ProjectModel


__all__ = ["Finding", "Related", "Rule", "RuleDocs", "Severity", "Span", "UnknownMessageId"]


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
    """One problem a rule found: where, what it says, and the facts its fixes read."""

    rule_id: str
    message: str
    span: Span
    severity: Severity
    related: list[Related] = field(default_factory=list)
    # What must travel as JSON (LSP Diagnostic.data, `check --output-format json`): the rule's
    # facts about the finding as plain values. Fix builders do not read nodes back from it.
    data: dict[str, Any] = field(default_factory=dict)
    # Which of the rule's messages this is (a key of `Rule.messages`, like ESLint's messageId):
    # stable while the wording changes; in JSON/SARIF output and Diagnostic.data
    message_id: str = ""
    # The rule's typed detection state for its fix builder (live tree-sitter nodes, the
    # `SqlStatement`s, the `DurableObjectClass`): one small frozen dataclass defined in the rule
    # module, or None. Never serialised, compared or printed; a finding rebuilt from JSON has
    # none, and a builder that needs it then raises `CannotFix` (codeactions/fix.py `state_of`).
    state: object | None = field(default=None, compare=False, repr=False)

    @property
    def path(self) -> Path:
        return self.span.path

    @property
    def qualified_message_id(self) -> str:
        """`<rule id>/<message id>`, unique across rules (`unbounded-table-growth/no-retention`)."""
        return f"{self.rule_id}/{self.message_id}" if self.message_id else self.rule_id

    def sort_key(self) -> tuple[str, int, str]:
        return (str(self.span.path), self.span.start, self.rule_id)


@frozen
class RuleDocs:
    """The detection half of a rule's docs. Its fixes and their safety are documented in
    `codeactions/<rule_id>.py` (`FixSpec.docs`); a rule without a fix module says why in
    `no_fix`. The page that merges both halves is rendered by server/ruledocs.py."""

    what: str
    why: str
    example: str
    references: tuple[str, ...]
    # set exactly when the rule has no fix module: why nothing can be rewritten automatically
    no_fix: str = ""

    def markdown(self, rule_id: str, title: str, severity: Severity) -> str:
        """The detection sections of the rule's page (what, why, example); references and the
        fix half are added by the page renderer."""
        return (
            f"# {rule_id}\n\n{title} (default severity: {severity.name.lower()})\n\n"
            f"## What it does\n{self.what.strip()}\n\n"
            f"## Why it matters\n{self.why.strip()}\n\n"
            f"## Example\n{self.example.strip()}\n"
        )


MESSAGE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class UnknownMessageId(ValueError):
    """A rule reported a message id it does not declare in `Rule.messages`."""


@frozen
class Rule:
    """A rule: its id, severity, docs, check function and message ids."""

    id: str
    title: str
    severity: Severity
    docs: RuleDocs
    check: Callable[[ProjectModel], Iterable[Finding]]
    # message id -> what that message says (one entry per distinct message shape; ESLint's
    # `meta.messages`). Every finding names one: `RULE.finding("no-retention", message, …)`.
    messages: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        for message_id in self.messages:
            if not MESSAGE_ID.fullmatch(message_id):
                raise ValueError(f"{self.id}: message id `{message_id}` is not kebab-case")

    @property
    def url(self) -> str:
        return rule_doc_url(self.id)  # the installed page (analyzers/docs_links.py)

    def finding(
        self,
        message_id: str,
        message: str,
        span: Span,
        related: Iterable[Related] = (),
        data: dict[str, Any] | None = None,
        severity: Severity | None = None,
        state: object | None = None,
    ) -> Finding:
        if message_id not in self.messages:
            raise UnknownMessageId(
                f"{self.id}: message id `{message_id}` is not one of {sorted(self.messages)}"
            )
        return Finding(
            rule_id=self.id,
            message=message,
            span=span,
            severity=severity or self.severity,
            related=list(related),
            data=dict(data or {}),
            message_id=message_id,
            state=state,
        )
