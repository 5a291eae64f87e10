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

The parser is tree-sitter's TypeScript grammar (tree-sitter-typescript 0.23), not the TypeScript
compiler. A few valid forms do not parse with it, for example members of a type literal
separated only by line breaks (`{ a: number\n b: string }`), type arguments on a tagged template
(``this.sql<Row>`...` ``), `import("x").T` types and `export type * from`. The finding then
marks code that compiles; its message says only what is certain: the code was not read and no
rule checked it. That is why the default severity is `info`. Silence it for such a line with
`// durable-harden-ignore syntax-error: valid TypeScript the parser does not read`.
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
    references=(
        "https://docs.astral.sh/ruff/linter/#error-suppression",
        "https://eslint.org/docs/latest/use/command-line-interface#exit-codes",
        "https://tree-sitter.github.io/tree-sitter/using-parsers/1-getting-started.html",
    ),
    no_fix="""
The intended code cannot be guessed. Fix the syntax; the rest of the rules then check the file
again.
""",
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


# The parser is tree-sitter's TypeScript grammar, not TypeScript's own: a few valid forms do not
# parse with it (seen on real code: type-literal members separated only by newlines, type
# arguments on a tagged template, `import("x").T` types, `export type * from`). So the message
# says what is certain (this code was not read, and no rule checked it), not that it is invalid.
UNREAD = "no rule checked this code (a syntax error, or TypeScript syntax the parser does not read)"


def _message(node: Node, data: bytes) -> str:
    if node.is_missing:
        return f"Could not parse: missing `{node.type}`; {UNREAD}"
    text = data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    first = text.strip().splitlines()[0] if text.strip() else ""
    if len(first) > 40:
        first = first[:37] + "..."
    if first:
        return f"Could not parse: unexpected `{first}`; {UNREAD}"
    return f"Could not parse this code; {UNREAD}"


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
            yield RULE.finding(
                "missing" if node.is_missing else "unexpected",
                _message(node, source.data),
                Span(source.path, start, end),
            )


RULE = Rule(
    id="syntax-error",
    title="Code the parser could not read",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "missing": "a token the grammar needs is missing",
        "unexpected": "text the parser did not expect",
    },
)
