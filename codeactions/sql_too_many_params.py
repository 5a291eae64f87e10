"""Fix for sql-too-many-params: `IN (${xs.map(() => "?").join(",")})` with `...xs` becomes
`IN (SELECT value FROM json_each(?))` with `JSON.stringify(xs)`."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIMITS
from durable_harden.analyzers.rules._sqlexec import binding_args, literal_is_inline, params_of
from durable_harden.analyzers.rules.sql_too_many_params import ParamsState
from durable_harden.analyzers.tsutil import node_text, normalize_expr
from durable_harden.codeactions._execedit import CannotFix
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> Fix:
    if finding.data.get("kind") != "generated":
        raise CannotFix("only a generated placeholder list has a fix")
    state = state_of(finding, ParamsState)
    stmt = state.statement
    if not literal_is_inline(stmt):
        raise CannotFix("SQL not written in the call")
    if stmt.index_in_call != stmt.statements_in_call - 1:
        raise CannotFix("not the last statement")
    item = state.generated
    params = params_of(stmt)
    if item is None or params is None or params.named or params.numbered:
        raise CannotFix("list or parameters not understood")
    data = stmt.call_file.data
    args = binding_args(stmt)
    spreads = [a for a in args if a.type == "spread_element"]
    if len(spreads) != 1:
        raise CannotFix("not exactly one spread argument")
    spread = spreads[0]
    inner = spread.named_children[0] if spread.named_children else None
    if inner is None or normalize_expr(node_text(data, inner)) != normalize_expr(item.array):
        raise CannotFix("the spread is not the same array")
    before = sum(1 for p in params.positional if p < item.open)
    after = len(params.positional) - before
    if args.index(spread) != before or len(args) - before - 1 != after:
        raise CannotFix("the spread does not stand at the list's position")
    if any(
        s.sql_offset != item.sub.sql_offset and item.open < s.sql_offset < item.close
        for s in stmt.substitutions
    ):
        raise CannotFix("other substitutions in the list")
    start = stmt.offsets[item.open]
    end = stmt.offsets[item.close] + 1
    file_path = stmt.file.path
    edits = [
        Edit(file_path, start, end, "(SELECT value FROM json_each(?))"),
        Edit(
            stmt.call_file.path,
            spread.start_byte,
            spread.end_byte,
            f"JSON.stringify({node_text(data, inner)})",
        ),
    ]
    return Fix(
        fix_id="sql-too-many-params.json-each",
        title=f"Bind `{item.array}` once with json_each(?)",
        # unsafe: the elements' types are not known here, and a binary element (ArrayBuffer,
        # Uint8Array) becomes a JSON object that matches nothing, a BigInt makes stringify throw
        safety=Safety.UNSAFE,
        edits=edits,
        review=(
            "The array is bound as one JSON text and expanded by SQLite's json_each: numbers "
            "and strings compare as before; booleans become 1/0 and binary values cannot pass "
            "through JSON (an ArrayBuffer element becomes `{}` and matches nothing; a BigInt "
            "makes JSON.stringify throw). Check the array holds only strings and numbers."
        ),
    )


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "json_each(?)",
            UNSAFE,
            """
For the generated `IN (…)` list: `IN (SELECT value FROM json_each(?))` bound to
`JSON.stringify(array)`, in place of the spread argument. SQLite's `json_each` yields numbers as
INTEGER/REAL and strings as TEXT, so comparisons behave as with one parameter per element
(booleans become 1/0). Offered when the spread argument is the same array and stands at the
list's parameter position.
""",
            why="""
Unsafe: the elements' types are not checked: a binary element (`ArrayBuffer`, `Uint8Array`)
becomes the JSON object `{}` and matches nothing where it matched its BLOB before, and a `BigInt`
makes `JSON.stringify` throw.
""",
        ),
    ),
    review="""
The array holds only strings and numbers.
""",
    not_offered="""
A literal list of more than 100 parameters: batch the rows instead.
""",
    references=(
        REF_LIMITS + " (≤ 100 bound parameters per statement)",
        "https://www.sqlite.org/json1.html#jeach",
    ),
)


SPEC = FixSpec("sql-too-many-params", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
