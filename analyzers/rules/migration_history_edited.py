"""migration-history-edited: an applied migration changed, reordered or removed; duplicate tags;
`exports` next to `migrations`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._common import REF_MIGRATIONS
from durable_harden.analyzers.rules.kv_backed_class import _committed, migration_lists
from durable_harden.analyzers.wrangler import KeyPath, WranglerConfig

CLASS_LISTS = ("new_sqlite_classes", "new_classes")

DOCS = RuleDocs(
    what="""
Compares the wrangler config's `migrations` (top level and each `env.<name>` section) with the
committed file at git HEAD when the project is in a git repository, and reports an entry that
was changed, moved or removed. Without git only what the file itself shows is reported: two
entries with the same tag, and a top-level `exports` block next to `migrations` (one style or
the other).
""",
    why="""
Migrations are applied once, in order, and Cloudflare remembers the last applied tag. Editing
an applied entry does not re-run it: the deploy either fails or silently diverges from what
the file says (a class added to an old entry is never created). Changes go in a new entry at
the end.
""",
    example="""
```jsonc
// HEAD:    { "tag": "v1", "new_sqlite_classes": ["Room"] }
// now:     { "tag": "v1", "new_sqlite_classes": ["Room", "Lobby"] }   // reported
// fixed:   { "tag": "v1", "new_sqlite_classes": ["Room"] },
//          { "tag": "v2", "new_sqlite_classes": ["Lobby"] }
```
""",
    references=(f"{REF_MIGRATIONS}",),
)


def added_classes(old: dict[str, Any], new: dict[str, Any]) -> list[str] | None:
    """Classes the edit only added to an entry's class lists; None if it changed more."""
    keys = set(old) | set(new)
    added: list[str] = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key not in CLASS_LISTS or not isinstance(after, list):
            return None
        before_list = before if isinstance(before, list) else []
        if after[: len(before_list)] != before_list and not set(before_list) <= set(after):
            return None
        added.extend(str(c) for c in after if c not in before_list)
    return added


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class EditedState:
    """What the fix needs (an edited entry): the config."""

    config: WranglerConfig


def _duplicate_tags(config: WranglerConfig, path: KeyPath, items: list[Any]) -> Iterator[Finding]:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "tag" not in item:
            continue
        tag = str(item["tag"])
        if tag in seen:
            yield RULE.finding(
                "duplicate-tag",
                f"Migration tag `{tag}` is used twice (entries {seen[tag] + 1} and {index + 1}).",
                config.span((*path, index, "tag")),
                data={"problem": "duplicate-tag", "config": str(config.path)},
            )
        else:
            seen[tag] = index


def check(model: ProjectModel) -> Iterator[Finding]:
    for config in model.configs:
        lists = dict(migration_lists(config))
        for path, items in lists.items():
            yield from _duplicate_tags(config, path, items)
        if isinstance(config.values.get("exports"), dict) and ("migrations",) in lists:
            yield RULE.finding(
                "exports-and-migrations",
                "The config declares classes both in `exports` and in `migrations`; use one "
                "style (the `exports` block replaces migrations).",
                config.span(("exports",), value=False),
                data={"problem": "exports-and-migrations", "config": str(config.path)},
            )
        committed = _committed(config) if lists else None
        if committed is None:
            continue
        old_lists = dict(migration_lists(committed))
        for path, old_items in old_lists.items():
            new_items = lists.get(path, [])
            for index, old in enumerate(old_items):
                if index >= len(new_items):
                    tag = old.get("tag") if isinstance(old, dict) else None
                    yield RULE.finding(
                        "removed",
                        f"Applied migration `{tag}` was removed; migrations are append-only.",
                        config.span(path, value=False),
                        data={"problem": "removed", "config": str(config.path)},
                    )
                    continue
                new = new_items[index]
                if new == old:
                    continue
                moved = old in new_items
                tag = old.get("tag") if isinstance(old, dict) else None
                added = (
                    added_classes(old, new)
                    if isinstance(old, dict) and isinstance(new, dict)
                    else None
                )
                yield RULE.finding(
                    "moved" if moved else "edited",
                    f"Applied migration `{tag}` was "
                    + ("moved" if moved else "edited")
                    + "; migrations are applied once, in order: restore it and append the "
                    "change as a new entry.",
                    config.span((*path, index), value=False),
                    data={
                        "problem": "moved" if moved else "edited",
                        "config": str(config.path),
                        "entry": [*path, index],
                        "added": added,
                    },
                    state=EditedState(config),
                )


RULE = Rule(
    id="migration-history-edited",
    title="An applied Durable Object migration was edited",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "duplicate-tag": "two migrations share a tag",
        "exports-and-migrations": "classes declared both in exports and in migrations",
        "removed": "an applied migration was removed",
        "edited": "an applied migration was edited",
        "moved": "an applied migration was moved",
    },
)
