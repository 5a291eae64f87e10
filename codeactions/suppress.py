"""Fixes that silence a finding: `// durable-harden-ignore <rule>: <reason>` above its line, or
`// durable-harden-ignore-file <rule>: <reason>` at the top of the file (`#` in TOML).

Offered by the language server next to a rule's own fixes (like ESLint's "Disable for this
line"). Pure byte-offset edits, no LSP types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.source import LineIndex
from durable_harden.analyzers.suppressions import DIRECTIVE, is_own_line
from durable_harden.codeactions.fix import Edit, Fix, Safety

REASON = "TODO say why this is acceptable here"


def comment_prefix(path: Path) -> str:
    return "#" if path.suffix == ".toml" else "//"


def _newline(lines: LineIndex, row: int) -> str:
    end = lines.line_starts[row + 1] if row + 1 < len(lines.line_starts) else len(lines.data)
    return "\r\n" if lines.data[:end].endswith(b"\r\n") else "\n"


def disable_for_line(finding: Finding, data: bytes, lines: LineIndex | None = None) -> Fix:
    """Insert a next-line directive above the finding's line, with that line's indentation;
    when the line above already is a next-line directive, name the rule in it as well."""
    lines = lines or LineIndex(data)
    rule_id = finding.rule_id
    row = lines.row_of(finding.span.start)
    title = f"Disable {rule_id} for this line"
    if row > 0:
        above_start = lines.line_starts[row - 1]
        above = data[above_start : lines.line_starts[row]]
        match = DIRECTIVE.search(above)
        if (
            match is not None
            and not match.group("file")
            and match.group("rules")
            and is_own_line(above, match.start(), 0)
        ):
            named = [r.strip() for r in match.group("rules").decode().split(",")]
            if rule_id in named:  # already there (e.g. the comment is broken): nothing to add
                pass
            else:
                at = above_start + match.end("rules")
                return Fix(
                    fix_id=f"disable-line:{rule_id}:{row}",
                    title=title,
                    safety=Safety.SAFE,
                    edits=[Edit(finding.path, at, at, f", {rule_id}")],
                    review="A suppression hides the finding; the reason should say why.",
                    rule_id=rule_id,
                )
    start = lines.line_starts[row]
    text = lines.data[start : start + 200]
    indent = text[: len(text) - len(text.lstrip(b" \t"))].decode()
    comment = (
        f"{indent}{comment_prefix(finding.path)} durable-harden-ignore {rule_id}: {REASON}"
        f"{_newline(lines, row)}"
    )
    return Fix(
        fix_id=f"disable-line:{rule_id}:{row}",
        title=title,
        safety=Safety.SAFE,
        edits=[Edit(finding.path, start, start, comment)],
        review="A suppression hides the finding; the reason should say why.",
        rule_id=rule_id,
    )


def disable_for_file(finding: Finding, data: bytes, lines: LineIndex | None = None) -> Fix:
    """Insert a file-wide directive at the top of the file (after a `#!` line)."""
    lines = lines or LineIndex(data)
    rule_id = finding.rule_id
    at = lines.line_starts[1] if data.startswith(b"#!") and len(lines.line_starts) > 1 else 0
    comment = (
        f"{comment_prefix(finding.path)} durable-harden-ignore-file {rule_id}: {REASON}"
        f"{_newline(lines, 0)}"
    )
    return Fix(
        fix_id=f"disable-file:{rule_id}",
        title=f"Disable {rule_id} for this file",
        safety=Safety.SAFE,
        edits=[Edit(finding.path, at, at, comment)],
        review="A file-wide suppression hides every finding of the rule in this file.",
        rule_id=rule_id,
    )


# Nodes whose text a line break and a comment would change: a directive cannot go inside them.
_LITERALS = frozenset({"template_string", "string", "comment", "string_fragment", "regex"})


def _inside_literal(tree_root: Any, offset: int) -> bool:
    node = tree_root.descendant_for_byte_range(offset, offset)
    while node is not None:
        if node.type in _LITERALS and node.start_byte < offset:
            return True
        node = node.parent
    return False


def add_ignores(
    path: Path,
    data: bytes,
    findings: list[Finding],
    reason: str = REASON,
    tree_root: Any = None,
) -> tuple[bytes, list[Finding]]:
    """`check --add-ignore` (Ruff's `--add-noqa`): a next-line directive above every line with
    findings, naming the line's rules, with the line's indentation and line ending. A line whose
    directive above already names some rules gets the others added to it. Returns the new bytes
    and the findings it could not suppress: on a line that starts inside a multi-line string or
    comment (a directive there would change the string). Idempotent: run again on its output it
    adds nothing, because the findings are suppressed.

    Above the line and not at its end (where Ruff puts `# noqa`): the end of the line may be
    inside a template literal (multi-line SQL), and a long line stays readable.
    """
    lines = LineIndex(data)
    newline_default = _newline(lines, 0)
    rows: dict[int, list[str]] = {}
    left: list[Finding] = []
    for finding in findings:
        row = lines.row_of(finding.span.start)
        start = lines.line_starts[row]
        if tree_root is not None and _inside_literal(tree_root, start):
            left.append(finding)
            continue
        named = rows.setdefault(row, [])
        if finding.rule_id not in named:
            named.append(finding.rule_id)
    edits: list[tuple[int, int, bytes]] = []
    prefix = comment_prefix(path)
    for row, rule_ids in sorted(rows.items()):
        start = lines.line_starts[row]
        if row > 0:
            above_start = lines.line_starts[row - 1]
            above = data[above_start:start]
            match = DIRECTIVE.search(above)
            if (
                match is not None
                and not match.group("file")
                and match.group("rules")
                and is_own_line(above, match.start(), 0)
            ):
                named = [r.strip() for r in match.group("rules").decode().split(",")]
                extra = [r for r in rule_ids if r not in named]
                if extra:
                    at = above_start + match.end("rules")
                    edits.append((at, at, (", " + ", ".join(extra)).encode()))
                continue
        text = data[start : start + 400]
        indent = text[: len(text) - len(text.lstrip(b" \t"))]
        newline = _newline(lines, row) if row + 1 < len(lines.line_starts) else newline_default
        comment = f"{prefix} durable-harden-ignore {', '.join(rule_ids)}: {reason}{newline}"
        edits.append((start, start, indent + comment.encode()))
    out = data
    for start, end, text_bytes in sorted(edits, reverse=True):
        out = out[:start] + text_bytes + out[end:]
    return out, left
