"""The fix half of a rule record: what `codeactions/<rule_id>.py` exports as `SPEC`.

A rule is two modules: `analyzers/rules/<rule_id>.py` (detection and its docs: what, why,
example, message ids) and `codeactions/<rule_id>.py` (its fixes). The fix module ends with one
`FixSpec` that says everything the rest of the tool needs about its fixes: the builder, the fix
docs (`FixDocs`: each fix offered, its safety and why, what a reviewer checks, where no fix is
offered), the safety levels the builder can return (`FixSpec.safeties`, read from the docs), the
harden priority tier, the label harden uses for the pattern, and the generated-test case harden
writes for it. The registry (`codeactions.specs()`) refuses a spec that names no known rule, and
a rule that neither has a spec nor says in `RuleDocs.no_fix` why it has none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from durable_harden.analyzers.records import frozen
from durable_harden.codeactions.fix import Safety

if TYPE_CHECKING:
    from durable_harden.analyzers.findings import Finding
    from durable_harden.analyzers.model import ProjectModel
    from durable_harden.codeactions.fix import Fix

# (finding, model) -> its fixes (or one fix); raises CannotFix (codeactions/fix.py) to offer none
Builder = Callable[["Finding", "ProjectModel"], "list[Fix] | Fix"]

# -- harden priority tiers (the order "harden all" applies fixes in) -----------------------------
TIER_NAMES = (
    "data growth and correctness",  # data that grows forever, code that fails or loses data
    "hibernation",  # what keeps an idle object awake or loses its in-memory state
    "indexes",
    "other",
    "rollout",
)
TIER_CORRECTNESS, TIER_HIBERNATION, TIER_INDEXES, TIER_OTHER, TIER_ROLLOUT = range(5)

# (test context, applied fix) -> a generated test case or None; see codeactions/harden/
TestCaseMaker = Callable[[Any, Any], Any]


# the safety levels of one fix, for `Offer`
SAFE: tuple[Safety, ...] = (Safety.SAFE,)
UNSAFE: tuple[Safety, ...] = (Safety.UNSAFE,)
SAFE_OR_UNSAFE: tuple[Safety, ...] = (Safety.SAFE, Safety.UNSAFE)  # decided per finding


@frozen
class Offer:
    """One fix the module offers: its name, the safety levels it is built with, what it
    rewrites (and when it is offered), and why it has that safety."""

    name: str
    safety: tuple[Safety, ...]
    what: str
    why: str = ""

    def markdown(self) -> str:
        levels = " or ".join(s.value for s in self.safety)
        text = f"### {self.name} ({levels})\n{self.what.strip()}\n"
        if self.why.strip():
            text += f"\n{self.why.strip()}\n"
        return text


@frozen
class FixDocs:
    """The fix half of a rule's docs page ("Fix and its safety")."""

    offers: tuple[Offer, ...]
    # what a reviewer must check before accepting an unsafe fix
    review: str = ""
    # where the rule reports without a fix, and why
    not_offered: str = ""
    # sources for the facts the fix relies on (PLATFORM-FACTS.md's, where it has them)
    references: tuple[str, ...] = ()

    @property
    def safeties(self) -> frozenset[Safety]:
        return frozenset(level for offer in self.offers for level in offer.safety)

    def markdown(self) -> str:
        parts = [offer.markdown() for offer in self.offers]
        if self.review.strip():
            parts.append(f"### What a reviewer checks\n{self.review.strip()}\n")
        if self.not_offered.strip():
            parts.append(f"### When no fix is offered\n{self.not_offered.strip()}\n")
        return "\n".join(parts)


@frozen
class FixSpec:
    """A rule's fixes: the builder, their docs and safety, harden's tier and test case."""

    rule_id: str
    build: Builder
    # which fixes it offers, their safety and why (the docs page's "Fix and its safety")
    docs: FixDocs = field(kw_only=True)
    # harden priority; None: errors count as correctness, the rest as "other"
    tier: int | None = None
    # what harden calls the applied pattern (report, README, editor); None: the fix's title
    label: str | None = None
    # the case harden generates in the class's test file (codeactions/harden/generated_tests.py)
    test_case: TestCaseMaker | None = None

    @property
    def safeties(self) -> frozenset[Safety]:
        """The safety levels `build` can return (stated in the docs; a test checks every fix
        built on the fixtures against it)."""
        return self.docs.safeties
