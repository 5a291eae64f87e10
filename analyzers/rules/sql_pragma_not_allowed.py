"""sql-pragma-not-allowed: PRAGMAs workerd refuses, and tables named with the reserved `_cf_`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_SQL
from durable_harden.analyzers.sql import SqlStatement

# workerd src/workerd/util/sqlite.c++ (allowlist as of late 2026, see PLATFORM-FACTS.md)
ALLOWED = frozenset(
    {
        "table_list",
        "table_info",
        "table_xinfo",
        "index_info",
        "index_list",
        "index_xinfo",
        "foreign_key_check",
        "foreign_key_list",
        "quick_check",
        "optimize",
        "data_version",
        "page_size",
    }
)
ALLOWED_BOOLEANS = frozenset(
    {
        "case_sensitive_like",
        "foreign_keys",
        "defer_foreign_keys",
        "ignore_check_constraints",
        "legacy_alter_table",
        "recursive_triggers",
        "reverse_unordered_selects",
    }
)
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(?:\w+\s*\.\s*)?(\w+)\s*(=|\()?", re.I)
_PRAGMA_FUNCTION = re.compile(r"\bpragma_(\w+)\s*\(", re.I)
_RESERVED = re.compile(
    r"\b(?:CREATE\s+(?:TEMP\w*\s+)?(?:TABLE|VIEW|INDEX|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?)"
    r"[\"`\[]?(_cf_\w*)",
    re.I,
)

ADVICE = {
    "page_count": "read `ctx.storage.sql.databaseSize` (bytes) instead",
    "user_version": "record applied schema steps in a migrations table instead",
    "journal_mode": "the runtime manages the journal; remove it",
    "synchronous": "the runtime manages durability; remove it",
    "integrity_check": "use `PRAGMA quick_check` instead",
}

DOCS = RuleDocs(
    what="""
Reports `PRAGMA` statements (and `pragma_<name>()` table-valued functions) that the Durable
Object SQLite API rejects, and objects created with a name starting `_cf_` (reserved for
Cloudflare). Allowed: `table_list`, `table_info`, `table_xinfo`, `index_info`, `index_list`,
`index_xinfo`, `foreign_key_check`, `foreign_key_list`, `quick_check`, `optimize`,
`data_version`, `page_size` (read only), and setting the booleans `case_sensitive_like`,
`foreign_keys`, `defer_foreign_keys`, `ignore_check_constraints`, `legacy_alter_table`,
`recursive_triggers`, `reverse_unordered_selects`.
""",
    why="""
The call throws at runtime (`not authorized`), often only on the code path that runs once, such
as a schema upgrade keyed on `PRAGMA user_version`, so the object fails in production after
passing tests that never reached it.
""",
    example="""
```ts
// Reported: user_version is not allowed; keep a migrations table instead
const { user_version } = sql.exec("PRAGMA user_version").one();
// Reported: use ctx.storage.sql.databaseSize
sql.exec("PRAGMA page_count");
```
""",
    references=(
        f"{REF_SQL}",
        "https://github.com/cloudflare/workerd/blob/main/src/workerd/util/sqlite.c++",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class PragmaState:
    """What the fix needs: the statement that holds the pragma."""

    statement: SqlStatement


def check(model: ProjectModel) -> Iterator[Finding]:
    for stmt in model.statements:
        text = stmt.text
        names: list[tuple[str, int, int, bool]] = []
        match = _PRAGMA.match(text)
        if match is not None:
            names.append(
                (match.group(1).lower(), match.start(1), match.end(1), bool(match.group(2)))
            )
        for func in _PRAGMA_FUNCTION.finditer(text):
            names.append((func.group(1).lower(), func.start(), func.end() - 1, False))
        for name, start, end, assigns in names:
            if name in ALLOWED and not (name == "page_size" and assigns):
                continue
            if name in ALLOWED_BOOLEANS:
                continue
            advice = ADVICE.get(name, "it throws in a Durable Object")
            yield RULE.finding(
                "pragma",
                f"`PRAGMA {name}` is not allowed in Durable Object SQLite storage: {advice}.",
                stmt.span(start, end),
                data={"pragma": name, "statement": [str(stmt.file.path), stmt.offsets[0]]},
                state=PragmaState(stmt),
            )
        for reserved in _RESERVED.finditer(text):
            yield RULE.finding(
                "reserved-name",
                f"`{reserved.group(1)}`: names starting `_cf_` are reserved by Cloudflare and "
                "cannot be created.",
                stmt.span(reserved.start(1), reserved.end(1)),
                data={"reserved": reserved.group(1)},
            )


RULE = Rule(
    id="sql-pragma-not-allowed",
    title="A PRAGMA or table name the Durable Object SQL API rejects",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "pragma": "a PRAGMA the Durable Object SQL API rejects",
        "reserved-name": "a name starting `_cf_`, reserved by Cloudflare",
    },
)
