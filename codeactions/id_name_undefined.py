"""Fix for id-name-undefined: default the read, `ctx.id.name ?? ctx.id.toString()`."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_CHANGELOG
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer

# Parents where `a ?? b` needs no parentheses (the value stands alone).
STANDALONE = frozenset(
    {
        "template_substitution",
        "arguments",
        "variable_declarator",
        "pair",
        "return_statement",
        "expression_statement",
        "parenthesized_expression",
        "array",
    }
)


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    file = model.file(Path(finding.span.path))
    if file is None:
        return []
    start, end = finding.span.start, finding.span.end
    node = file.root.descendant_for_byte_range(start, end)
    while node is not None and (node.start_byte, node.end_byte) != (start, end):
        node = node.parent
    if node is None:
        return []
    expr = file.data[start:end].decode()
    fallback = str(finding.data.get("fallback") or "this.ctx.id.toString()")
    parent = node.parent
    standalone = parent is not None and (
        parent.type in STANDALONE
        or (parent.type == "assignment_expression" and parent.child_by_field_name("right") == node)
    )
    text = f"{expr} ?? {fallback}" if standalone else f"({expr} ?? {fallback})"
    return [
        Fix(
            fix_id="id-name-undefined.fallback",
            title=f"Fall back to `{fallback}` when `{expr}` is undefined",
            safety=Safety.UNSAFE,
            edits=[Edit(file.path, start, end, text)],
            review=(
                f"Objects made with newUniqueId()/idFromString() now use `{fallback}` (the hex id) "
                "instead of `undefined`: check that keys, paths or logs built from it, and any "
                "code elsewhere that rebuilds them, expect that value."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "fallback for ctx.id.name",
            UNSAFE,
            """
`this.ctx.id.name ?? this.ctx.id.toString()` (the hex id is always defined and unique).
""",
            why="""
Safe in effect, offered as unsafe: the value changes from `undefined` to the hex id wherever it
goes.
""",
        ),
    ),
    review="""
The fallback fits where the value goes: a storage key or URL that other code reconstructs from the
name must use the same fallback.
""",
    references=(
        REF_CHANGELOG + " (2026-03-15: ctx.id.name is undefined for newUniqueId/idFromString)",
    ),
)


SPEC = FixSpec(
    "id-name-undefined",
    build,
    tier=TIER_CORRECTNESS,
    label="fallback for ctx.id.name",
    docs=FIX_DOCS,
)
