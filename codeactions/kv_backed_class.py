"""Fix for kv-backed-class: `new_classes` -> `new_sqlite_classes` in an undeployed entry."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_CHANGELOG, REF_MIGRATIONS
from durable_harden.analyzers.rules.kv_backed_class import KvBackedState
from durable_harden.codeactions.fix import Edit, Fix, Safety, state_of
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


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


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "new_sqlite_classes",
            UNSAFE,
            """
The key `new_classes` becomes `new_sqlite_classes`. Offered only when the entry is not in the
committed config (git HEAD), i.e. it is very likely not deployed.
""",
            why="""
Unsafe: a class that has been deployed KV-backed keeps that backend; moving its data needs a new
class and a copy.
""",
        ),
    ),
    review="""
The class has never been deployed with this migration.
""",
    not_offered="""
An entry already in the committed config (probably deployed).
""",
    references=(
        REF_CHANGELOG + " (2026-07-09: new_classes is refused on accounts that have none)",
        REF_MIGRATIONS,
    ),
)


SPEC = FixSpec("kv-backed-class", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
