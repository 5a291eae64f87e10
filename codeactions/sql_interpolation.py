"""Fix for sql-interpolation: every value substitution of the statement becomes `?` and its
expression an argument at that parameter's position. Every finding of a statement offers the
same edits, so fix-all applies them once."""

from __future__ import annotations

from dataclasses import replace

from tree_sitter import Node

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_SQL
from durable_harden.analyzers.rules._sqlexec import binding_args, literal_is_inline, params_of
from durable_harden.analyzers.rules.sql_interpolation import InterpolationState, classify
from durable_harden.analyzers.sql import SqlStatement, Substitution
from durable_harden.analyzers.tsutil import node_text, walk_type
from durable_harden.codeactions._execedit import CannotFix, insert_args
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> Fix:
    if finding.data.get("kind") != "value":
        raise CannotFix("only an interpolated value has a fix")
    # every value finding of a statement gets the same fix: built once per statement and model
    # (a statement with n substitutions has n findings; building each was O(n²))
    stmt = state_of(finding, InterpolationState).statement
    key = f"sql-interpolation.fix:{stmt.file.path}:{stmt.offsets[0]}"
    built: Fix | CannotFix | None = model.memo.get(key)
    if built is None:
        try:
            built = _build(stmt)
        except CannotFix as exc:
            built = exc
        model.memo[key] = built
    if isinstance(built, CannotFix):
        raise CannotFix(str(built))
    return replace(built, edits=list(built.edits), creates=list(built.creates))


def _argument(stmt: SqlStatement, sub: Substitution, nodes: dict[int, Node]) -> str:
    """The substitution's expression as an argument (parenthesised when it is `a, b`)."""
    node = nodes.get(sub.ts_start)
    if node is None or not node.named_children:
        raise CannotFix("substitution not found")
    inner = node.named_children[0]
    text = node_text(stmt.file.data, inner)
    return f"({text})" if inner.type == "sequence_expression" else text


def _build(stmt: SqlStatement) -> Fix:
    if stmt.tagged or not literal_is_inline(stmt):
        raise CannotFix("SQL not written in the exec call")
    if stmt.index_in_call != stmt.statements_in_call - 1:
        raise CannotFix("only the last statement of an exec() string takes arguments")
    if stmt.has_spread_binding:
        raise CannotFix("spread arguments")
    params = params_of(stmt)
    found = classify(stmt)
    if params is None or found is None or params.named or params.numbered:
        raise CannotFix("parameters we cannot count")
    if len(binding_args(stmt)) != len(params.positional):
        raise CannotFix("the existing arguments do not match the parameters")
    values, _ = found
    if not values:
        raise CannotFix("nothing to bind")
    data = stmt.file.data
    file_path = stmt.file.path
    nodes: dict[int, Node] = {}
    for node in walk_type(stmt.literal, "template_substitution"):
        nodes.setdefault(node.start_byte, node)
    edits: list[Edit] = []
    inserts: list[tuple[int, str]] = []
    for use in values:
        position = sum(1 for p in params.positional if p < use.start)
        ts_start = stmt.offsets[use.start]
        ts_end = stmt.offsets[use.end - 1] + 1
        if not use.quoted:
            sub = use.subs[0]
            ts_start, ts_end = sub.ts_start, sub.ts_end
            argument = _argument(stmt, sub, nodes)
        else:
            content = data[ts_start + 1 : ts_end - 1].decode("utf-8", errors="replace")
            if "''" in content or "`" in content or "\\" in content:
                raise CannotFix("quoted SQL string with escapes")
            sub = use.subs[0]
            whole = data[sub.ts_start : sub.ts_end].decode("utf-8", errors="replace")
            if len(use.subs) == 1 and content == whole:
                argument = _argument(stmt, sub, nodes)
            else:
                argument = f"`{content}`"
        edits.append(Edit(file_path, ts_start, ts_end, "?"))
        inserts.append((position, argument))
    edits.extend(insert_args(stmt, inserts))
    names = ", ".join(a for _, a in inserts)
    return Fix(
        fix_id="sql-interpolation.bind-values",
        title=f"Bind {names} as parameters",
        safety=Safety.SAFE,
        edits=edits,
        review=(
            "The values are now bound parameters: SQLite compares them with their JavaScript "
            "type (a number bound where the text had '42' compares as a number)."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "bound parameters",
            SAFE,
            """
For values: each value substitution of the statement becomes `?` and its expression an argument,
inserted at the position of that parameter among the existing ones (a quoted `'…${x}…'` becomes
one `?` bound to the template string with the quotes' content). Offered when the statement is the
last of its `exec()` string, written in the call, uses plain `?` parameters, and the existing
arguments match them.
""",
            why="""
Safe: for every value the original statement handled as written (a number in an unquoted
substitution, a string without quotes inside `'…'`), the bound parameter compares and stores the
same value, so the rows read and written are the same. The results differ only where the original
was broken: a value containing `'` (a syntax error or injected SQL before), a string in an
unquoted substitution (an unknown column before).
""",
        ),
    ),
    not_offered="""
Names and fragments are never rewritten: check them against an allowlist.
""",
    references=(REF_SQL,),
)


SPEC = FixSpec("sql-interpolation", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
