"""Pure rewriting: a finding + the project model -> fixes (byte-offset edits, new files).

Every module in this package that defines BUILDERS = {rule_id: builder} contributes fixes;
a builder is `(finding, model) -> list[Fix] | Fix`, and raises `CannotFix` (with the reason)
when it cannot build a correct fix. Nothing here imports an LSP library.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from durable_harden.codeactions._style import Style
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, NewFile, Safety, apply_edits

if TYPE_CHECKING:
    from durable_harden.analyzers.findings import Finding
    from durable_harden.analyzers.model import ProjectModel

Builder = Callable[["Finding", "ProjectModel"], "list[Fix] | Fix"]

__all__ = [
    "Builder",
    "CannotFix",
    "Edit",
    "Fix",
    "NewFile",
    "Safety",
    "apply_edits",
    "builders",
    "fixes_for",
]

log = logging.getLogger(__name__)


@cache
def builders() -> dict[str, list[Builder]]:
    found: dict[str, list[Builder]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "fix":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for rule_id, builder in getattr(module, "BUILDERS", {}).items():
            found.setdefault(rule_id, []).append(builder)
    return found


def fixes_for(finding: Finding, model: ProjectModel) -> list[Fix]:
    """Fixes for one finding; a builder that cannot build one offers nothing rather than a
    broken edit (`CannotFix`: logged at debug level; any other error is a bug in the builder:
    logged with its traceback, and the other builders still run)."""
    fixes: list[Fix] = []
    for builder in builders().get(finding.rule_id, []):
        try:
            built = builder(finding, model)
        except CannotFix as exc:
            log.debug(
                "no %s fix at %s:%d: %s", finding.rule_id, finding.path, finding.span.start, exc
            )
            continue
        except Exception:
            log.exception(
                "fix builder %s failed on %s at %s:%d",
                getattr(builder, "__module__", "?"),
                finding.rule_id,
                finding.path,
                finding.span.start,
            )
            continue
        for fix in [built] if isinstance(built, Fix) else built:
            fix.rule_id = fix.rule_id or finding.rule_id
            fix.edits = _in_file_line_endings(fix.edits, model)
            fixes.append(fix)
    return fixes


def _in_file_line_endings(edits: list[Edit], model: ProjectModel) -> list[Edit]:
    """Builders write `\n`; a file that uses CRLF gets CRLF in its edits, so a fix never
    leaves it with mixed line endings."""
    crlf: dict[object, bool] = {}
    result: list[Edit] = []
    for edit in edits:
        if "\n" not in edit.new_text:
            result.append(edit)
            continue
        if edit.path not in crlf:
            source = model.file(edit.path)
            config = next((c for c in model.configs if c.path == edit.path), None)
            data = (
                source.data
                if source is not None
                else config.data
                if config is not None
                else model.read(edit.path) or b""
            )
            crlf[edit.path] = Style.of(data).crlf
        if crlf[edit.path]:
            text = edit.new_text.replace("\r\n", "\n").replace("\n", "\r\n")
            edit = Edit(edit.path, edit.start, edit.end, text)
        result.append(edit)
    return result
