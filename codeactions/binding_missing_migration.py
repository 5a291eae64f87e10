"""Fix for binding-missing-migration: append the next migration (or an exports entry) to the
wrangler config in its own format."""

from __future__ import annotations

import re
from typing import Any

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_MIGRATIONS
from durable_harden.analyzers.rules.binding_missing_migration import MigrationState
from durable_harden.analyzers.wrangler import KeyPath, WranglerConfig
from durable_harden.codeactions._config_edit import (
    json_add_pair,
    json_append_item,
    toml_add_table,
    toml_append_table,
)
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.harden.generated_tests import reachable_case
from durable_harden.codeactions.spec import (
    SAFE_OR_UNSAFE,
    TIER_CORRECTNESS,
    FixDocs,
    FixSpec,
    Offer,
)


def next_tag(tags: list[str]) -> str:
    """`v3` after `v1`, `v2`; keeps the prefix of the last numbered tag (`2024-06-v7` -> …v8)."""
    prefix, highest = "v", 0
    for tag in tags:
        match = re.fullmatch(r"(.*?)(\d+)", tag)
        if match:
            prefix = match.group(1)
            highest = max(highest, int(match.group(2)))
    candidate = f"{prefix}{highest + 1}"
    while candidate in tags:
        highest += 1
        candidate = f"{prefix}{highest + 1}"
    return candidate


def _migrations_scope(config: WranglerConfig, env: str | None) -> tuple[KeyPath, Any]:
    """The env section's own migrations when it has them, else the top level's."""
    if env is not None:
        own = config.envs.get(env, {}).get("migrations")
        if isinstance(own, list):
            return ("env", env), own
    return (), config.values.get("migrations")


def migration_edits(config: WranglerConfig, class_name: str, env: str | None) -> list[Edit]:
    base, existing = _migrations_scope(config, env)
    items = existing if isinstance(existing, list) else []
    tags = [str(m["tag"]) for m in items if isinstance(m, dict) and "tag" in m]
    entry = {"tag": next_tag(tags), "new_sqlite_classes": [class_name]}
    path = (*base, "migrations")
    if config.format == "toml":
        return toml_append_table(config, path, entry)
    if path in config.spans:
        return json_append_item(config, path, entry)
    return json_add_pair(config, base, "migrations", [entry])


def exports_edits(config: WranglerConfig, class_name: str) -> list[Edit]:
    entry = {"type": "durable-object", "storage": "sqlite"}
    if config.format == "toml":
        return toml_add_table(config, ("exports", class_name), entry)
    return json_add_pair(config, ("exports",), class_name, entry)


def _was_deleted(config: WranglerConfig, class_name: str) -> bool:
    return any(class_name in m.deleted for m in config.migrations)


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    config = state_of(finding, MigrationState).config
    name = str(finding.data["class"])
    env = finding.data.get("env")
    deleted = _was_deleted(config, name)
    safety = Safety.UNSAFE if deleted else Safety.SAFE
    exports_style = finding.data.get("style") == "exports"
    review = (
        "Check that the class should be SQLite-backed (new classes should be; a class that "
        "already stores data as a KV-backed object cannot switch)"
        + ("." if exports_style else ", and that the new tag is what you deploy next.")
    )
    if deleted:
        review += (
            f" `{name}` was deleted by an earlier migration: re-creating it starts with empty "
            "storage; rebinding the old data is not possible."
        )
    if exports_style:
        return [
            Fix(
                fix_id="binding-missing-migration.exports",
                title=f'Declare `{name}` in `exports` as `{{ "type": "durable-object", "storage": "sqlite" }}`',
                safety=safety,
                edits=exports_edits(config, name),
                review=review,
            )
        ]
    edits = migration_edits(config, name, env if isinstance(env, str) else None)
    return [
        Fix(
            fix_id="binding-missing-migration.append",
            title=f"Append a migration creating `{name}` (`new_sqlite_classes`)",
            safety=safety,
            edits=edits,
            review=review,
            isolation=f"migrations:{config.path}",
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "migration for the bound class",
            SAFE_OR_UNSAFE,
            """
Appends the next migration `{ "tag": "v<N+1>", "new_sqlite_classes": ["X"] }` in the file's own
style (JSONC indentation and comments kept; a `[[migrations]]` table in TOML), or an `exports`
entry `{ "type": "durable-object", "storage": "sqlite" }` when the file declares its classes that
way. Existing migration entries are never edited.
""",
            why="""
Safe: without the migration the deploy is refused for the new class, so nothing deployed changes
meaning; the entry only creates storage for a class that has none yet. Unsafe when the config's
history deletes the class (re-creating it is a decision).
""",
        ),
    ),
    review="""
For a class the history deletes: re-creating it (empty) is intended.
""",
    references=(
        REF_MIGRATIONS,
        REF_CHANGELOG + " (2026-07-09: new classes should be SQLite-backed)",
    ),
)


SPEC = FixSpec(
    "binding-missing-migration",
    build,
    tier=TIER_CORRECTNESS,
    label="migration for the bound class",
    test_case=reachable_case,
    docs=FIX_DOCS,
)
