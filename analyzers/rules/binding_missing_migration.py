"""binding-missing-migration: a bound class that no migration (or exports entry) creates."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._bindings import (
    declared_classes,
    local_bindings,
    uses_exports_style,
)
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_MIGRATIONS, node_span
from durable_harden.analyzers.wrangler import WranglerConfig

DOCS = RuleDocs(
    what="""
Reports a `class_name` in `durable_objects.bindings` (no `script_name`) that no entry of
`migrations` creates (`new_sqlite_classes`, `new_classes`, or the `to` of a
`renamed_classes`/`transferred_classes`, and not deleted later) and that no entry of the
top-level `exports` block declares (`"type": "durable-object"`). Migrations and exports of an
`env.<name>` section count for that section's bindings, the top-level ones for every section.
""",
    why="""
A Durable Object class must be created by a migration before it can be bound: `wrangler deploy`
refuses the upload otherwise. New classes should be SQLite-backed (`new_sqlite_classes`, or the
newer `exports` block); KV-backed `new_classes` is refused on accounts that have none yet
(changelog 2026-07-09).
""",
    example="""
```jsonc
"durable_objects": { "bindings": [{ "name": "EXPORT_JOBS", "class_name": "ExportJob" }] },
"migrations": [{ "tag": "v1", "new_sqlite_classes": ["RateLimiter"] }]
// reported: nothing creates ExportJob. Fixed by appending:
//   { "tag": "v2", "new_sqlite_classes": ["ExportJob"] }
```
""",
    references=(
        f"{REF_MIGRATIONS}",
        f"{REF_CHANGELOG} (2026-07-09: new_classes refused on accounts without KV-backed classes)",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class MigrationState:
    """What the fix needs: the config that binds the class."""

    config: WranglerConfig


def check(model: ProjectModel) -> Iterator[Finding]:
    for config in model.configs:
        declared: dict[str | None, set[str]] = {}  # per env section: asked per binding
        for binding in local_bindings(config):
            if binding.env not in declared:
                declared[binding.env] = declared_classes(config, binding.env)
            if binding.class_name in declared[binding.env]:
                continue
            related = [
                Related(node_span(c.file, c.name_node), "class declared here")
                for c in model.classes_named(binding.class_name)
            ]
            if "migrations" in config.values:
                related.append(Related(config.span(("migrations",), value=False), "migrations"))
            style = "exports" if uses_exports_style(config) else "migrations"
            yield RULE.finding(
                "no-migration",
                f"Durable Object class `{binding.class_name}` is bound as `{binding.name}` but no "
                f"migration creates it; add a `new_sqlite_classes` migration"
                f"{' (or an `exports` entry)' if style == 'exports' else ''} or the deploy fails.",
                config.span((*binding.path, "class_name")),
                related=related,
                data={
                    "class": binding.class_name,
                    "binding": binding.name,
                    "env": binding.env,
                    "config": str(config.path),
                    "style": style,
                },
                state=MigrationState(config),
            )


RULE = Rule(
    id="binding-missing-migration",
    title="A bound Durable Object class has no migration creating it",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "no-migration": "a bound class no migration (or exports entry) creates",
    },
)
