"""The rule registry: every module in this package exposing RULE is a rule.

Modules are discovered, so adding a rule is adding a file; FIRST only orders the listing
(the five production patterns lead), the rest follow alphabetically.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from durable_harden.analyzers.findings import Rule

FIRST = (
    "unbounded-table-growth",
    "sql-missing-index",
    "timer-blocks-hibernation",
    "websocket-not-hibernatable",
    "obsolete-name-workaround",
    "id-name-undefined",
    "rollout-unsafe",
)


@cache
def all_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            rules.append(rule)
    rank = {rule_id: index for index, rule_id in enumerate(FIRST)}
    rules.sort(key=lambda r: (rank.get(r.id, len(FIRST)), r.id))
    return tuple(rules)


def rule_by_id(rule_id: str) -> Rule | None:
    return next((r for r in all_rules() if r.id == rule_id), None)
