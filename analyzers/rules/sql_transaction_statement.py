"""sql-transaction-statement: BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE sent through
`sql.exec()`, which the Durable Object SQL API rejects."""

from __future__ import annotations

import re
from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_SQL, REF_STATE
from durable_harden.analyzers.sql import SqlStatement

KEYWORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"})
_HEAD = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z]+)", re.S)

DOCS = RuleDocs(
    what="""
Reports SQL transaction control (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`)
passed to `ctx.storage.sql.exec()` (or the Agents SDK `this.sql` tag).
""",
    why="""
The Durable Object SQLite API refuses these statements: the call throws, so the code that was
meant to be atomic fails outright (and often only on the path tests never take). Atomicity comes
from the storage API instead: `ctx.storage.transactionSync(() => { … })` runs a synchronous
callback as one transaction (rolled back when it throws), and `ctx.storage.transaction(async
(txn) => …)` is the asynchronous form. Besides, every run of synchronous SQL calls with no
`await` between them is already committed atomically by the runtime's output gate.
""",
    example="""
```ts
// Reported: BEGIN and COMMIT throw in a Durable Object
sql.exec("BEGIN");
sql.exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", amount, from);
sql.exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, to);
sql.exec("COMMIT");

// Production pattern
this.ctx.storage.transactionSync(() => {
  sql.exec("UPDATE accounts SET balance = balance - ? WHERE id = ?", amount, from);
  sql.exec("UPDATE accounts SET balance = balance + ? WHERE id = ?", amount, to);
});
```
""",
    references=(
        f"{REF_SQL} (transactionSync; BEGIN/SAVEPOINT are not allowed)",
        f"{REF_STATE} (transaction, transactionSync)",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/util/sqlite.c++",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class TransactionState:
    """What the fix needs: the statement that ends (or starts) the transaction."""

    statement: SqlStatement


def check(model: ProjectModel) -> Iterator[Finding]:
    for stmt in model.statements:
        if stmt.loose:
            continue
        match = _HEAD.match(stmt.text)
        if match is None:
            continue
        keyword = match.group(1).upper()
        if keyword not in KEYWORDS:
            continue
        yield RULE.finding(
            "transaction-keyword",
            f"`{keyword}` is rejected by the Durable Object SQL API; run the statements in "
            "`ctx.storage.transactionSync(() => { … })` instead.",
            stmt.span(match.start(1), match.end(1)),
            data={
                "keyword": keyword,
                "statement": [str(stmt.file.path), stmt.offsets[0]],
                "single": stmt.statements_in_call == 1,
            },
            state=TransactionState(stmt),
        )


RULE = Rule(
    id="sql-transaction-statement",
    title="Transaction control statements in sql.exec()",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "transaction-keyword": "BEGIN/COMMIT/ROLLBACK/SAVEPOINT, which the SQL API rejects",
    },
)
