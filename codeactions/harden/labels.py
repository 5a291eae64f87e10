"""How harden names what it did: the pattern label of a rule's fix, file names, paths."""

from __future__ import annotations

import re
from pathlib import Path


def pattern_label(rule_id: str, title: str = "") -> str:
    """The rule's `FixSpec.label`, else the fix's title, else the rule id."""
    from durable_harden.codeactions import spec_for

    spec = spec_for(rule_id)
    return (spec.label if spec is not None else None) or title or rule_id


def kebab(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-") or "durable-object"


def rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
