"""Fix for rpc-result-not-disposed (unsafe): `const` -> `using`.

Unsafe: the result (and the stubs it holds) is disposed when the block ends, so a use after it
(returned, stored in a field, captured by a callback that runs later) now fails; and it needs
TypeScript 5.2+ with esnext.disposable in `lib`."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    return [
        Fix(
            fix_id="rpc-result-not-disposed.using",
            title="Keep the result with `using`",
            safety=Safety.UNSAFE,
            edits=[Edit(finding.span.path, finding.span.start, finding.span.end, "using")],
            review=(
                "The result is disposed when the block ends: it must not be returned or stored "
                "beyond it. Needs TypeScript 5.2+ (`lib` with esnext.disposable)."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "`using`",
            UNSAFE,
            """
`const` becomes `using` (TypeScript 5.2+ explicit resource management, supported by workerd).
""",
            why="""
Unsafe: the result is disposed when the enclosing block ends, and nothing of what that needs is
checked.
""",
        ),
    ),
    review="""
The result is not returned or stored for later (a callback that runs after the block sees a
disposed stub); the project's TypeScript is 5.2+ with `esnext.disposable` in `lib`.
""",
)


SPEC = FixSpec("rpc-result-not-disposed", build, docs=FIX_DOCS)
