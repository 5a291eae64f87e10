"""Fix for migration-history-edited: restore the committed entry, append the addition."""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_MIGRATIONS
from durable_harden.analyzers.rules.kv_backed_class import _committed
from durable_harden.analyzers.rules.migration_history_edited import EditedState
from durable_harden.analyzers.wrangler import ConfigError, load_config
from durable_harden.codeactions._config_edit import json_append_item, toml_append_table
from durable_harden.codeactions.binding_missing_migration import next_tag
from durable_harden.codeactions.fix import Edit, Fix, Safety, apply_edits, state_of
from durable_harden.codeactions.spec import SAFE, TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def _single_edit(path: Path, before: bytes, after: bytes) -> Edit:
    prefix = 0
    limit = min(len(before), len(after))
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]
    ):
        suffix += 1
    return Edit(path, prefix, len(before) - suffix, after[prefix : len(after) - suffix].decode())


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    if finding.data.get("problem") != "edited":
        return []
    config = state_of(finding, EditedState).config
    entry = finding.data.get("entry")
    if not isinstance(entry, list):
        return []
    committed = _committed(config)
    if committed is None:
        return []
    key = tuple(entry)
    old_located, new_located = committed.spans.get(key), config.spans.get(key)
    if old_located is None or new_located is None:
        return []
    old_text = committed.data[old_located.pair[0] : old_located.pair[1]].decode()
    restored = apply_edits(
        config.data, [Edit(config.path, new_located.pair[0], new_located.pair[1], old_text)]
    )
    added = finding.data.get("added")
    result = restored
    if added:
        try:
            fresh = load_config(config.path, restored)
        except ConfigError:
            return []
        path = key[:-1]
        items = fresh.values.get("migrations") if path == ("migrations",) else None
        if items is None and len(path) == 3:
            items = fresh.envs.get(str(path[1]), {}).get("migrations")
        tags = [str(m["tag"]) for m in items or [] if isinstance(m, dict) and "tag" in m]
        item = {"tag": next_tag(tags), "new_sqlite_classes": list(added)}
        edits = (
            toml_append_table(fresh, path, item)
            if fresh.format == "toml"
            else json_append_item(fresh, path, item)
        )
        result = apply_edits(restored, edits)
    try:
        load_config(config.path, result)
    except ConfigError:
        return []
    safe = bool(added)
    return [
        Fix(
            fix_id="migration-history-edited.restore",
            title="Restore the applied migration"
            + (f" and append {', '.join(added)} as a new one" if added else ""),
            safety=Safety.SAFE if safe else Safety.UNSAFE,
            edits=[_single_edit(config.path, config.data, result)],
            review=(
                "The committed entry comes back unchanged"
                + ("; the added classes go into the next migration." if safe else "")
                + ("" if safe else ": the edit you made is dropped; express it as a new migration.")
            ),
            isolation=f"migrations:{config.path}",
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "restore and append",
            SAFE,
            """
Restores the entry to its committed text (comments and all) and, when the edit only added classes
to `new_sqlite_classes`/`new_classes`, appends them as the next migration.
""",
            why="""
Safe: the applied history is what is deployed, and the added classes still get created.
""",
        ),
        Offer(
            "restore only",
            UNSAFE,
            """
Any other edit (a tag renamed, classes removed) is restored only.
""",
            why="""
Unsafe: the edit is undone and its intent is not carried over.
""",
        ),
    ),
    review="""
After a restore only: re-express the intended change as a new migration.
""",
    references=(REF_MIGRATIONS + " (migrations are applied once, in order)",),
)


SPEC = FixSpec("migration-history-edited", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
