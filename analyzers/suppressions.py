"""`// durable-harden-ignore <rule>[, <rule>]: reason` on a line of its own (silences the next
line), after code on the same line (`code(); // durable-harden-ignore <rule>: reason` silences
that line, like ESLint's `eslint-disable-line`), and `// durable-harden-ignore-file <rule>: reason`
(whole file); `#` works in TOML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.source import LineIndex

DIRECTIVE = re.compile(
    rb"(?://|#|/\*)\s*durable-harden-ignore(?P<file>-file)?(?:[ \t]+(?P<rules>[a-z0-9\-, \t*]+?))?[ \t]*(?::(?P<reason>[^\r\n]*))?(?=[\r\n]|\Z)",
    re.M,
)


@dataclass
class Suppression:
    path: Path
    start: int  # byte span of the directive
    end: int
    rules: list[str]  # "*" when none named
    whole_file: bool
    target_row: int  # the row it silences (its own or the next), -1 for the file
    used: set[str] = field(default_factory=set)

    def covers(self, rule_id: str, row: int) -> bool:
        if rule_id not in self.rules and "*" not in self.rules:
            return False
        return self.whole_file or row == self.target_row


def parse_suppressions(
    path: Path, data: bytes, lines: LineIndex | None = None
) -> list[Suppression]:
    if b"durable-harden-ignore" not in data:
        return []
    lines = lines or LineIndex(data)
    found: list[Suppression] = []
    for match in DIRECTIVE.finditer(data):
        raw_rules = (match.group("rules") or b"").decode()
        rules = [r.strip() for r in raw_rules.split(",") if r.strip()] or ["*"]
        start = match.start()
        row = lines.row_of(start)
        own_line = is_own_line(data, start, lines.line_starts[row])
        found.append(
            Suppression(
                path=path,
                start=start,
                end=match.end(),
                rules=rules,
                whole_file=bool(match.group("file")),
                target_row=-1 if match.group("file") else row + 1 if own_line else row,
            )
        )
    return found


def is_own_line(data: bytes, start: int, line_start: int) -> bool:
    """Whether only blanks come before the comment at `start` on its line."""
    return not data[line_start:start].strip()


def apply_suppressions(
    findings: list[Finding], suppressions: list[Suppression], lines: LineIndex
) -> list[Finding]:
    """Drop suppressed findings and mark the suppressions that did something."""
    kept: list[Finding] = []
    for finding in findings:
        row = lines.row_of(finding.span.start)
        hit = next((s for s in suppressions if s.covers(finding.rule_id, row)), None)
        if hit is None:
            kept.append(finding)
        else:
            hit.used.add(finding.rule_id)
    return kept
