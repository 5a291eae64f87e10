"""Fix for unawaited-rpc: `await` the stub call in an async function."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import TIER_CORRECTNESS, FixSpec


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    if not finding.data.get("async"):
        return []
    start = finding.span.start
    return [
        Fix(
            fix_id="unawaited-rpc.await",
            title=f"Await `{finding.data.get('method')}()`",
            safety=Safety.SAFE,
            edits=[Edit(finding.span.path, start, start, "await ")],
            review="The caller now waits for the object and sees its errors.",
        )
    ]


SPEC = FixSpec("unawaited-rpc", build, tier=TIER_CORRECTNESS)
