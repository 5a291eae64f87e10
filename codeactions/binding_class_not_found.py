"""Fix for binding-class-not-found: bind the class with the closest name (unsafe)."""

from __future__ import annotations

import json

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import FixSpec


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


SPEC = FixSpec("binding-class-not-found", build)
