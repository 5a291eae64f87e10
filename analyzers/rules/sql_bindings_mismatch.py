"""sql-bindings-mismatch: parameters in a statement that is not the last of a multi-statement
`exec()` string, or a parameter count that differs from the arguments given."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_SQL, SQL_REACH
from durable_harden.analyzers.rules._sqlexec import binding_args, exec_groups, params_read
from durable_harden.analyzers.sql import SqlStatement

DOCS = RuleDocs(
    what="""
Checks every `sql.exec(query, ...bindings)` call whose SQL text we can read:

- a `?` (or `?NNN`, `:name`) in a statement that is not the last one of a multi-statement string:
  workerd binds the arguments to the last statement only, so the call throws;
- a number of `?` parameters different from the number of arguments (when both are countable:
  no spread argument, no named parameters). Template substitutions (`${…}`) are not parameters,
  and the Agents SDK `this.sql` tag binds its substitutions itself, so it is never checked.
  A string constant of the file spliced in (`${SUBTREE_CTE} SELECT … WHERE id = ?`) brings its
  own `?` parameters, counted where it stands.

Through a project wrapper the count is checked only when the wrapper hands its further arguments
to `exec()` one for one (`query(sql, ...params)`); a wrapper taking an array of parameters
(`query(sql, [a, b])`) or SQL inside an object is not counted (its arguments are not the
bindings).
"""
    + SQL_REACH,
    why="""
Both mistakes throw at runtime (`Wrong number of parameter bindings for SQL query`), usually in a
code path that runs rarely, such as a first-start seed or a schema step.
""",
    example="""
```ts
// Reported: the INSERT is not the last statement, so its ? is never bound
sql.exec("INSERT INTO rooms (id) VALUES (?); UPDATE stats SET rooms = rooms + 1", id);
// Fixed: one exec per statement, each with its own arguments
sql.exec("INSERT INTO rooms (id) VALUES (?)", id);
sql.exec("UPDATE stats SET rooms = rooms + 1");

// Reported: two parameters, one argument
sql.exec("SELECT * FROM rooms WHERE id = ? AND owner = ?", id);
```
""",
    references=(
        f"{REF_SQL} (exec: bindings)",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/api/sql.c++",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class CallState:
    """What the fix needs: the statements of the exec() call, in order (the last takes the
    arguments)."""

    statements: tuple[SqlStatement, ...]


def _call_data(last: SqlStatement) -> dict[str, list[str | int]]:
    """Where the call and its last statement are (built for a finding only)."""
    return {
        "call": [str(last.call_file.path), last.call.start_byte],
        "statement": [str(last.file.path), last.offsets[0]],
    }


def check(model: ProjectModel) -> Iterator[Finding]:
    for group in exec_groups(model):
        last = group[-1]
        params = [params_read(s) for s in group]  # read only
        if any(p is None for p in params):
            continue
        early = False
        for stmt, p in zip(group[:-1], params[:-1], strict=True):
            assert p is not None
            if not p.any:
                continue
            early = True
            first = min(p.positional) if p.positional else None
            span = (
                stmt.span(first, first + 1) if first is not None else stmt.find_span(r"[?:@$]\w*")
            )
            yield RULE.finding(
                "not-last",
                f"Statement {stmt.index_in_call + 1} of {stmt.statements_in_call} in this exec() "
                "has parameters, but workerd binds the arguments to the last statement only: "
                "split the call into one exec() per statement.",
                span,
                [Related(last.span(), "the arguments go to this statement")],
                data={**_call_data(last), "kind": "not-last"},
                state=CallState(tuple(group)),
            )
        if early:
            continue
        p_last = params[-1]
        assert p_last is not None
        if last.has_spread_binding or not p_last.countable:
            continue
        args = binding_args(last)
        if len(args) == p_last.count:
            continue
        what = f"{p_last.count} parameter{'s' if p_last.count != 1 else ''}"
        given = f"{len(args)} argument{'s' if len(args) != 1 else ''}"
        yield RULE.finding(
            "count",
            f"This exec() has {what} but {given}: it throws `Wrong number of parameter bindings`.",
            last.span(),
            data={**_call_data(last), "kind": "count", "params": p_last.count, "args": len(args)},
            state=CallState(tuple(group)),
        )


RULE = Rule(
    id="sql-bindings-mismatch",
    title="exec() arguments that do not match the SQL's parameters",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "not-last": "parameters in a statement that is not the last of its exec() string",
        "count": "the number of arguments differs from the number of parameters",
    },
)
