"""Fix for kv-backed-class: `new_classes` -> `new_sqlite_classes` in an undeployed entry."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules.kv_backed_class import KvBackedState
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, FixSpec


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    if finding.data.get("committed") or finding.data.get("mixed"):
        return []
    config = state_of(finding, KvBackedState).config
    entry = finding.data.get("entry")
    if not isinstance(entry, list):
        return []
    located = config.spans.get((*entry, "new_classes"))
    if located is None:
        return []
    start = located.pair[0]
    for key in (b'"new_classes"', b"'new_classes'", b"new_classes"):
        if config.data.startswith(key, start):
            quote = key[:1].decode() if key[:1] in {b'"', b"'"} else ""
            edit = Edit(config.path, start, start + len(key), f"{quote}new_sqlite_classes{quote}")
            return [
                Fix(
                    fix_id="kv-backed-class.sqlite",
                    title="Create the classes SQLite-backed (`new_sqlite_classes`)",
                    safety=Safety.UNSAFE,
                    edits=[edit],
                    review=(
                        "Only correct if this migration was never deployed: a deployed class "
                        "keeps its storage backend, and changing an applied migration breaks "
                        "the next deploy."
                    ),
                )
            ]
    return []


SPEC = FixSpec("kv-backed-class", build, tier=TIER_CORRECTNESS)
