"""How harden names what it did: the pattern label of a rule's fix, file names, paths."""

from __future__ import annotations

import re
from pathlib import Path

PATTERN_LABELS = {
    "unbounded-table-growth": "TTL cleanup by alarm",
    "timer-blocks-hibernation": "timer moved to an alarm",
    "websocket-not-hibernatable": "WebSocket Hibernation API",
    "websocket-state-in-memory": "per-socket state in attachments",
    "sql-missing-index": "index for a scanning query",
    "obsolete-name-workaround": "ctx.id.name instead of a name workaround",
    "id-name-undefined": "fallback for ctx.id.name",
    "class-not-exported": "class exported from the main module",
    "binding-missing-migration": "migration for the bound class",
    "rollout-unsafe": "gradual rollout script",
}


def pattern_label(rule_id: str, title: str = "") -> str:
    return PATTERN_LABELS.get(rule_id, title or rule_id)


def kebab(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-") or "durable-object"


def rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
