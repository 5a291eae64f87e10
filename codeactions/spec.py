"""The fix half of a rule record: what `codeactions/<rule_id>.py` exports as `SPEC`.

A rule is two modules: `analyzers/rules/<rule_id>.py` (detection and the rule's docs) and
`codeactions/<rule_id>.py` (its fixes). The fix module ends with one `FixSpec` that says
everything the rest of the tool needs about its fixes: the builder, the harden priority tier,
the label harden uses for the pattern, and the generated-test case harden writes for it. The
registry (`codeactions.specs()`) refuses a spec that names no known rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True)
class FixSpec:
    rule_id: str
    build: Builder
    # harden priority; None: errors count as correctness, the rest as "other"
    tier: int | None = None
    # what harden calls the applied pattern (report, README, editor); None: the fix's title
    label: str | None = None
    # the case harden generates in the class's test file (codeactions/harden/generated_tests.py)
    test_case: TestCaseMaker | None = None
