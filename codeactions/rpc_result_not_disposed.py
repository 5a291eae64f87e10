"""Fix for rpc-result-not-disposed: `const` -> `using`."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import FixSpec


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    return [
        Fix(
            fix_id="rpc-result-not-disposed.using",
            title="Keep the result with `using`",
            safety=Safety.SAFE,
            edits=[Edit(finding.span.path, finding.span.start, finding.span.end, "using")],
            review=(
                "The result is disposed when the block ends: it must not be returned or stored "
                "beyond it. Needs TypeScript 5.2+ (`lib` with esnext.disposable)."
            ),
        )
    ]


SPEC = FixSpec("rpc-result-not-disposed", build)
