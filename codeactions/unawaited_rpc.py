"""Fix for unawaited-rpc (unsafe): `await` the stub call in an async function.

Unsafe: the caller now waits for the object (later statements run after the call, not beside
it) and an error of the call now propagates to the caller instead of being an unhandled
rejection. Both are the point of the fix, and both change behaviour."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_RULES
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import TIER_CORRECTNESS, UNSAFE, FixDocs, FixSpec, Offer


def build(finding: Finding, model: ProjectModel) -> list[Fix]:
    if not finding.data.get("async"):
        return []
    start = finding.span.start
    return [
        Fix(
            fix_id="unawaited-rpc.await",
            title=f"Await `{finding.data.get('method')}()`",
            safety=Safety.UNSAFE,
            edits=[Edit(finding.span.path, start, start, "await ")],
            review=(
                "The caller now waits for the object (the statements after it run later) and "
                "its errors now reach the caller: check a failure there is handled as intended."
            ),
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "await the call",
            UNSAFE,
            """
`await ` is inserted before the call when the enclosing function is `async`.
""",
            why="""
Unsafe: it changes behaviour on purpose: the caller now waits for the call to finish before its
next statement, and an error thrown by the object now propagates to the caller (before, it was an
unhandled rejection nobody saw).
""",
        ),
    ),
    review="""
The caller may wait, and handles the error as intended.
""",
    not_offered="""
In a function that is not async: adding `await` would change its signature; use
`ctx.waitUntil(...)` there.
""",
    references=(REF_RULES,),
)


SPEC = FixSpec("unawaited-rpc", build, tier=TIER_CORRECTNESS, docs=FIX_DOCS)
