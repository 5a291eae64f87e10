"""syntax-error: a source file that does not parse.

Rules skip the parts of a file inside a syntax error (their findings there would be guesses),
so a file that does not parse would otherwise pass silently. Like Ruff and ESLint, the error is
reported as a finding of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.model import ProjectModel

DOCS = RuleDocs(
    what="""
Reports each place where a TypeScript or JavaScript source file does not parse: unexpected
text, or a token the grammar needs that is missing (a `}` or `)`). The file is still analysed
around the error, but nothing inside the broken part is checked.
""",
    why="""
A file that does not parse cannot be deployed, and every rule skips the code inside the error,
so without this report a broken file would look clean ("All checks passed!"). Ruff (its
syntax errors) and ESLint (fatal parsing errors) report them as diagnostics for the same reason.
""",
    example="""
```ts
export class Room extends DurableObject {
  async fetch(request: Request) {
    return new Response("ok"   // missing `)` : syntax-error
  }
}
```
""",
    fix="""
No automatic fix: the intended code cannot be guessed. Fix the syntax; the rest of the rules
then check the file again.
""",
    references=(
        "https://docs.astral.sh/ruff/linter/#error-suppression",
        "https://eslint.org/docs/latest/use/command-line-interface#exit-codes",
        "https://tree-sitter.github.io/tree-sitter/using-parsers/1-getting-started.html",
    ),
)

MAX_PER_FILE = 20  # one typo can cascade; the first errors say enough


def _errors(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            yield node
            continue
        if node.has_error:
            stack.extend(reversed(node.children))


def _message(node: Node, data: bytes) -> str:
    if node.is_missing:
        return f"Syntax error: missing `{node.type}`"
    text = data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > 40:
        first = first[:37] + "..."
    return f"Syntax error: unexpected `{first}`" if first else "Syntax error"


def check(model: ProjectModel) -> Iterator[Finding]:
    for source in model.files:
        if not source.error_ranges:
            continue
        for count, node in enumerate(_errors(source.root)):
            if count >= MAX_PER_FILE:
                break
            start, end = node.start_byte, node.end_byte
            if end <= start:  # a missing token is zero-width: underline one character
                end = min(start + 1, len(source.data))
                start = min(start, end)
            yield RULE.finding(_message(node, source.data), Span(source.path, start, end))


RULE = Rule(
    id="syntax-error",
    title="A source file that does not parse",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
)
