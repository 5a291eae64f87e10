"""The false-positive and recall classes met on real code (issue 17, items 4-6) are each stated in
the docs that govern them: what is reported and what is not. The rule pages are generated from
the rule modules (`python -m durable_harden.server.ruledocs`); the model-wide classes (class
identity, wrangler files, how SQL is found) live in docs/identity-and-config.md.

Each entry names the class, the page, and phrases that must all be on it: a class the docs stop
mentioning (a rewritten paragraph that drops it) fails here, with the class named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

# (class, page under docs/, phrases that must all appear on it)
CLASSES: list[tuple[str, str, tuple[str, ...]]] = [
    # -- item 4: false-positive classes -------------------------------------------------------
    (
        "timers that live within one request or event",
        "rules/timer-blocks-hibernation.md",
        (
            "awaited sleep",
            "Promise.race",
            "retry",
            "clearTimeout",
            "abort timer",
            "fire-and-forget",
            "setInterval",
            "webSocketMessage",
        ),
    ),
    (
        "blockConcurrencyWhile for one-time or guarded lazy initialisation",
        "rules/block-concurrency-misuse.md",
        ("guarded lazy initialisation", "once per wake"),
    ),
    (
        "an alarm re-armed in the constructor from durable state",
        "rules/alarm-unconditional-in-constructor.md",
        ("reads storage", "setAlarm(stored.dueAt)"),
    ),
    (
        "alarm installed on the instance at run time",
        "rules/setalarm-without-handler.md",
        ("installed on the instance at run time",),
    ),
    (
        "a close handshake done by a helper the handler calls",
        "rules/websocket-close-handshake.md",
        ("class method the handler calls",),
    ),
    (
        "a plan that already seeks an index and only sorts; an index that exists or would not help",
        "rules/sql-missing-index.md",
        ("already seeks an index and only sorts", "already exists", "would not"),
    ),
    (
        "a table pruned by age, by count or wholesale is not growing",
        "rules/sql-unbounded-read.md",
        ("by age, by count", "wholesale"),
    ),
    (
        "interpolation of constant fragments or of the placeholder list",
        "rules/sql-interpolation.md",
        ("constant template", "generated placeholder lists"),
    ),
    (
        "class identity by project, not by bare name",
        "identity-and-config.md",
        ("same-named class of a sibling project", "do not depend"),
    ),
    (
        "a socket accepted only to send an error frame, or passed to Object.assign",
        "rules/websocket-not-hibernatable.md",
        ("error frame", "Object.assign"),
    ),
    # -- item 5: recall classes ------------------------------------------------------------------
    (
        "pruning that does not bound the table; soft deletes",
        "rules/unbounded-table-growth.md",
        ("one row by its primary key", '"clear all"', "reset path", "Soft deletes"),
    ),
    (
        "SQL through the project's wrappers (same file, other files, objects and arrays)",
        "identity-and-config.md",
        (
            "querySql([{ sql:",
            "a method of a base class in another file",
            "a function imported by name",
            "Not followed",
        ),
    ),
    *[
        (
            "SQL through the project's wrappers, on each SQL rule's page",
            f"rules/{rule}.md",
            ("through the project's own wrappers", "are not\nfollowed"),
        )
        for rule in (
            "unbounded-table-growth",
            "sql-missing-index",
            "sql-unbounded-read",
            "sql-bindings-mismatch",
        )
    ],
    (
        "bindings through a wrapper counted only when passed on one for one",
        "rules/sql-bindings-mismatch.md",
        ("one for one", "not counted"),
    ),
    (
        "casts and wrappers around the socket",
        "rules/websocket-not-hibernatable.md",
        ("as any", "<WebSocket>", "server!"),
    ),
    (
        "a storage or sql alias defined in a base class in another file",
        "identity-and-config.md",
        ("this.db = ctx.storage.sql", "in the base"),
    ),
    (
        "environment-specific wrangler files and [env.<name>] sections",
        "identity-and-config.md",
        ("wrangler.<env>.toml", "[env.<name>]"),
    ),
    (
        "class expressions from a factory; legacy constructor(state, env) classes",
        "identity-and-config.md",
        ("factory function that returns them", "`legacy`"),
    ),
    # -- item 6: defaults that respect attention -------------------------------------------------
    (
        "advice-only rules are opt-in or info",
        "cli.md",
        ("`advice` group is opt-in", "global-singleton"),
    ),
    (
        "global-singleton is opt-in",
        "rules/global-singleton.md",
        ("Opt-in", "--select advice"),
    ),
    (
        "no rollout path only with signs of production deployment",
        "rules/rollout-unsafe.md",
        ("signs of production deployment", "folder's name alone decides nothing"),
    ),
]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("name,page,phrases", CLASSES, ids=[c[0] for c in CLASSES])
def test_each_class_is_stated_in_its_docs(name: str, page: str, phrases: tuple[str, ...]) -> None:
    text = _flat((DOCS / page).read_text(encoding="utf-8"))
    missing = [p for p in phrases if _flat(p) not in text]
    assert not missing, f"{page} no longer states `{name}`: missing {missing}"
