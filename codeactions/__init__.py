"""Pure rewriting: a finding + the project model -> fixes (byte-offset edits, new files).

Every module `codeactions/<rule_id>.py` ends with `SPEC = FixSpec(...)` (codeactions/spec.py):
its builder, fix docs (each fix, its safety and why; the safety levels the builder returns),
harden tier, pattern label and generated-test case. A builder is `(finding, model) -> list[Fix] | Fix`, and raises `CannotFix` (with the reason)
when it cannot build a correct fix. Nothing here imports an LSP library.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

from durable_harden.codeactions._style import uses_crlf
from durable_harden.codeactions.fix import CannotFix, Edit, Fix, NewFile, Safety, apply_edits
from durable_harden.codeactions.spec import Builder, FixDocs, FixSpec, Offer

if TYPE_CHECKING:
    from durable_harden.analyzers.findings import Finding
    from durable_harden.analyzers.model import ProjectModel


__all__ = [
    "Builder",
    "CannotFix",
    "Edit",
    "Fix",
    "FixDocs",
    "FixSpec",
    "IncompleteRule",
    "NewFile",
    "Offer",
    "Safety",
    "UnknownRule",
    "apply_edits",
    "builders",
    "fixes_for",
    "spec_for",
    "specs",
]

log = logging.getLogger(__name__)

# modules of this package that are not a rule's fixes
_NOT_RULES = frozenset({"editcore", "fix", "spec", "suppress"})


class UnknownRule(ValueError):
    """A fix spec names a rule the analyzers do not have."""


class IncompleteRule(ValueError):
    """A rule with neither a fix spec nor a `RuleDocs.no_fix` saying why it has none (or with
    both), or a spec whose docs offer no fix."""


@cache
def specs() -> dict[str, FixSpec]:
    """Every fix module's `SPEC`, by rule id. Refused: a spec that names no known rule, a
    second spec for a rule, a spec whose docs offer no fix, and a rule that neither has a spec
    nor says in `RuleDocs.no_fix` why it has no fix (or says so and has one)."""
    from durable_harden.analyzers.rules import all_rules

    rules = all_rules()
    known = {rule.id for rule in rules}
    found: dict[str, FixSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.ispkg or info.name in _NOT_RULES:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, FixSpec):
            continue
        if spec.rule_id not in known:
            raise UnknownRule(f"{module.__name__}: SPEC names no known rule `{spec.rule_id}`")
        if spec.rule_id in found:
            raise UnknownRule(f"{module.__name__}: a second SPEC for `{spec.rule_id}`")
        if not spec.docs.offers:
            raise IncompleteRule(f"{module.__name__}: SPEC.docs offers no fix")
        found[spec.rule_id] = spec
    for rule in rules:
        says_none = bool(rule.docs.no_fix.strip())
        if rule.id not in found and not says_none:
            raise IncompleteRule(
                f"rule `{rule.id}` has no codeactions/{rule.id.replace('-', '_')}.py SPEC and "
                "no `RuleDocs.no_fix` saying why it has no fix"
            )
        if rule.id in found and says_none:
            raise IncompleteRule(f"rule `{rule.id}` has a fix SPEC but `RuleDocs.no_fix` says none")
    return found


def spec_for(rule_id: str) -> FixSpec | None:
    return specs().get(rule_id)


def builders() -> dict[str, list[Builder]]:
    return {rule_id: [spec.build] for rule_id, spec in specs().items()}


_REGISTRY_BUILDERS = builders  # replaced by the tests' fake builders (tests/harden_fakes.py)
_BUILDERS_OF: dict[str, list[Builder]] = {}


def _builders_of(rule_id: str) -> list[Builder]:
    """builders()[rule_id], importing only that rule's fix module when the registry has not
    been loaded yet (a report builds the fixes of the few rules that found something; importing
    every fix module and building the table per finding cost ~30 ms a report, issue 14). The
    registry's checks (`specs()`) run wherever it is loaded; a rule whose spec is not in
    `codeactions/<rule_id>.py` is looked up there."""
    if specs.cache_info().currsize:  # the registry is loaded: ask it
        spec = specs().get(rule_id)
        return [spec.build] if spec is not None else []
    found = _BUILDERS_OF.get(rule_id)
    if found is None:
        spec = _own_spec(rule_id)
        found = _BUILDERS_OF[rule_id] = [spec.build] if spec is not None else []
    return found


def _own_spec(rule_id: str) -> FixSpec | None:
    from durable_harden.analyzers.rules import rule_by_id

    rule = rule_by_id(rule_id)
    if rule is not None and rule.docs.no_fix.strip():
        return None  # a rule that says why it has no fix has no spec (specs() checks it)
    name = f"{__name__}.{rule_id.replace('-', '_')}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return specs().get(rule_id)
    spec = getattr(module, "SPEC", None)
    if isinstance(spec, FixSpec) and spec.rule_id == rule_id:
        return spec
    return specs().get(rule_id)


def fixes_for(finding: Finding, model: ProjectModel) -> list[Fix]:
    """Fixes for one finding; a builder that cannot build one offers nothing rather than a
    broken edit (`CannotFix`: logged at debug level; any other error is a bug in the builder:
    logged with its traceback, and the other builders still run).

    A parallel check (analyzers.parallel) has its workers build the report's fixes: they are
    then found in the model's memo."""
    prebuilt = model.memo.get("parallel:fixes")
    if prebuilt is not None:
        entry = prebuilt.get(id(finding))
        if entry is not None and entry[0] is finding:
            return list(entry[1])
    fixes: list[Fix] = []
    chosen = (
        _builders_of(finding.rule_id)
        if builders is _REGISTRY_BUILDERS
        else builders().get(finding.rule_id, [])
    )
    for builder in chosen:
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
            if source is not None:
                data = source.data
            else:  # a config, or a file outside the model (the configs looked at only then)
                config = next((c for c in model.configs if c.path == edit.path), None)
                data = config.data if config is not None else model.read(edit.path) or b""
            crlf[edit.path] = uses_crlf(data)
        if crlf[edit.path]:
            text = edit.new_text.replace("\r\n", "\n").replace("\n", "\r\n")
            edit = Edit(edit.path, edit.start, edit.end, text)
        result.append(edit)
    return result
