"""kv-backed-class: a migration creates a KV-backed (`new_classes`) Durable Object class."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_LIMITS, REF_MIGRATIONS
from durable_harden.analyzers.rules._git import head_version
from durable_harden.analyzers.wrangler import ConfigError, KeyPath, WranglerConfig, load_config

DOCS = RuleDocs(
    what="""
Reports each class listed in a migration's `new_classes` (top level or an `env.<name>`
section): as an error when the class of that Worker project runs SQL on its own storage
(`ctx.storage.sql.exec()`; SQL sent to a D1 database does not count), which only SQLite-backed
classes have; as a warning otherwise.
""",
    why="""
`new_classes` creates KV-backed objects: no SQL API, 128 KiB values, and since changelog
2026-07-09 refused on accounts that have no KV-backed classes yet. New classes should be
SQLite-backed (`new_sqlite_classes`, or an `exports` entry with `"storage": "sqlite"`). A
class's storage backend cannot change after its first deployment.
""",
    example="""
```jsonc
"migrations": [{ "tag": "v1", "new_classes": ["Counter"] }]          // reported
"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }]   // fixed (never deployed)
```
""",
    references=(
        f"{REF_MIGRATIONS}",
        f"{REF_LIMITS}",
        f"{REF_CHANGELOG} (2026-07-09: new_classes refused on accounts without KV-backed classes)",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class KvBackedState:
    """What the fix needs: the config that creates the class KV-backed."""

    config: WranglerConfig


def migration_lists(config: WranglerConfig) -> Iterator[tuple[KeyPath, list[Any]]]:
    items = config.values.get("migrations")
    if isinstance(items, list):
        yield ("migrations",), items
    for name, env in config.envs.items():
        items = env.get("migrations")
        if isinstance(items, list):
            yield ("env", name, "migrations"), items


def _committed(config: WranglerConfig) -> WranglerConfig | None:
    data = head_version(config.path)
    if data is None:
        return None
    try:
        return load_config(config.path, data)
    except ConfigError:
        return None


def check(model: ProjectModel) -> Iterator[Finding]:
    # classes that run SQL on their own storage (not a D1 `db.prepare()` literal that merely
    # looks like SQL), by project: a same-named class of another Worker is another class
    sql_runners = {
        id(s.cls): s.cls for s in model.statements if s.cls is not None and not s.loose
    }.values()
    # their names by the config nearest to each (None: no config), once: asking each config
    # about every class grew with configs x classes
    by_config: dict[int, set[str]] = {}
    for c in sql_runners:
        nearest = model.config_for_path(c.file.path)
        by_config.setdefault(id(nearest) if nearest is not None else 0, set()).add(c.name)
    unconfigured = by_config.get(0, set())
    for config in model.configs:
        sql_classes = by_config.get(id(config), set()) | unconfigured
        committed: WranglerConfig | bool | None = False
        for path, items in migration_lists(config):
            for index, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                names = item.get("new_classes")
                if not isinstance(names, list):
                    continue
                if committed is False:
                    committed = _committed(config)
                deployed = False
                if isinstance(committed, WranglerConfig):
                    old = dict(migration_lists(committed)).get(path)
                    deployed = isinstance(old, list) and any(
                        isinstance(o, dict) and o.get("tag") == item.get("tag") for o in old
                    )
                for position, name in enumerate(names):
                    uses_sql = str(name) in sql_classes
                    yield RULE.finding(
                        "runs-sql" if uses_sql else "kv-backed",
                        f"`{name}` is created KV-backed (`new_classes`)"
                        + (
                            " but runs SQL: `ctx.storage.sql` exists only in SQLite-backed classes"
                            if uses_sql
                            else "; new classes should be SQLite-backed (`new_sqlite_classes`)"
                        )
                        + ".",
                        config.span((*path, index, "new_classes", position)),
                        severity=Severity.ERROR if uses_sql else Severity.WARNING,
                        data={
                            "class": str(name),
                            "config": str(config.path),
                            "entry": [*path, index],
                            "sql": uses_sql,
                            "committed": deployed,
                            "mixed": "new_sqlite_classes" in item,
                        },
                        state=KvBackedState(config),
                    )


RULE = Rule(
    id="kv-backed-class",
    title="A Durable Object class created KV-backed (`new_classes`)",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "runs-sql": "a KV-backed class (new_classes) runs SQL, which only SQLite-backed classes have",
        "kv-backed": "a new class is created KV-backed (new_classes) instead of SQLite-backed",
    },
)
