"""Fix for binding-class-not-found: bind the class with the closest name (unsafe)."""

from __future__ import annotations

import json

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_MIGRATIONS
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    suggestion = finding.data.get("suggestion")
    if not isinstance(suggestion, str):
        return []
    old = finding.span.path.read_bytes()[finding.span.start : finding.span.end].decode()
    quote = old[0] if old[:1] in {'"', "'"} else '"'
    new = json.dumps(suggestion) if quote == '"' else f"'{suggestion}'"
    return [
        Fix(
            fix_id="binding-class-not-found.rename",
            title=f"Bind `{suggestion}` instead of `{finding.data.get('class')}`",
            safety=Safety.UNSAFE,
            edits=[Edit(finding.span.path, finding.span.start, finding.span.end, new)],
            review=(
                "Check that this is the intended class. If objects were created under the old "
                "name, add a `renamed_classes` migration so their data follows."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "the class with a close name",
            UNSAFE,
            """
When one Durable Object class of the project has a close name and is not bound yet, the
`class_name` value is replaced by it.
""",
            why="""
Unsafe: the close name is a guess.
""",
        ),
    ),
    review="""
The suggested class is the intended one. If the class was renamed after its objects were created,
a `renamed_classes` migration is also needed.
""",
    references=(REF_MIGRATIONS + " (renamed_classes)",),
)


SPEC = FixSpec("binding-class-not-found", build, docs=FIX_DOCS)
