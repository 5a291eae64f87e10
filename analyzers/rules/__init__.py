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


# -- groups and selectors ------------------------------------------------------------------------
# Each rule belongs to one group (what part of a Durable Object it is about); `--select sql` or
# `"ignore": ["alarm"]` name a group, a rule id prefix (`websocket` = every `websocket-*` rule),
# a rule id, or ALL. Kept here as one table so a rule's group is read where the list is.
GROUPS: dict[str, tuple[str, ...]] = {
    "general": ("syntax-error", "unused-suppression"),
    "hibernation": (
        "timer-blocks-hibernation",
        "websocket-not-hibernatable",
        "websocket-state-in-memory",
        "websocket-manual-ping",
    ),
    "websocket": ("websocket-close-handshake", "serialize-attachment-misuse"),
    "sql": (
        "unbounded-table-growth",
        "sql-missing-index",
        "sql-unbounded-read",
        "sql-interpolation",
        "sql-bindings-mismatch",
        "sql-pragma-not-allowed",
        "sql-too-many-params",
        "sql-transaction-statement",
        "schema-change-without-migration",
    ),
    "alarm": (
        "alarm-retry-suppressed",
        "alarm-shared-by-purposes",
        "alarm-unconditional-in-constructor",
        "setalarm-without-handler",
        "deleteall-leaves-alarm",
    ),
    "config": (
        "binding-class-not-found",
        "binding-missing-migration",
        "class-not-exported",
        "kv-backed-class",
    ),
    "rollout": ("rollout-unsafe", "migration-history-edited"),
    "rpc": ("unawaited-rpc", "rpc-result-not-disposed", "rpc-compat-date"),
    "identity": ("id-name-undefined", "obsolete-name-workaround"),
    "storage": ("await-between-kv-writes", "kv-unbounded-list", "block-concurrency-misuse"),
    # opt-in: design advice whose value depends on what the code cannot show (traffic, intent)
    "advice": ("global-singleton",),
}
ALL = "ALL"
# Rules that run only when named (by id, by their group or by an id prefix), not by default and
# not by ALL, as Ruff's preview rules: on real code their findings were almost all true but of
# unclear value (docs/ecosystem.md, docs/cli.md).
OPT_IN = frozenset(GROUPS["advice"])


def default_on(rule_id: str) -> bool:
    return rule_id not in OPT_IN


def group_of(rule_id: str) -> str:
    return next((g for g, ids in GROUPS.items() if rule_id in ids), "")


class UnknownSelector(ValueError):
    """A selector naming no rule, group or prefix; the message suggests the closest names."""


def resolve_selector(selector: str) -> list[str]:
    """The rule ids a selector names, in registry order. Case-insensitive.

    ALL: every rule but the opt-in ones (OPT_IN). A group name: its rules, plus every rule whose id starts with `<name>-`
    (so `websocket` is the websocket group and every `websocket-*` rule). A rule id: that rule.
    A prefix ending at a `-` boundary (`sql-too`, `alarm-`): the rules it starts.
    """
    wanted = selector.strip().lower()
    ids = [r.id for r in all_rules()]
    if wanted == ALL.lower():
        return [i for i in ids if default_on(i)]
    stem = wanted.rstrip("-")
    chosen = set(GROUPS.get(stem, ()))
    chosen.update(i for i in ids if i == stem or i.startswith(stem + "-"))
    if not chosen:
        import difflib  # (only for the message: sqlglot imports it, a check without SQL need not)

        names = [*ids, *GROUPS, ALL]
        close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
        raise UnknownSelector(
            f"unknown rule, group or prefix `{selector.strip()}`{hint} (see `durable-harden rules`)"
        )
    return [i for i in ids if i in chosen]


def resolve_selectors(selectors: list[str]) -> list[str]:
    """The union of what each selector names, in registry order (UnknownSelector if any is
    unknown)."""
    chosen: set[str] = set()
    for selector in selectors:
        chosen.update(resolve_selector(selector))
    return [r.id for r in all_rules() if r.id in chosen]
