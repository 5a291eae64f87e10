"""Running one rule over a model, with its crash contained: a leaf module shared by
analyzers.analysis (in this process) and analyzers.parallel (in the worker processes), so that
neither imports the other's module for it."""

from __future__ import annotations

import traceback

from durable_harden.analyzers.budget import OverBudget
from durable_harden.analyzers.findings import Finding, Rule
from durable_harden.analyzers.model import Problem, ProjectModel


def rule_findings(model: ProjectModel, rule: Rule) -> tuple[list[Finding], list[Problem]]:
    """One rule's raw findings over the model, and the problems it adds (an internal error:
    the findings it yielded before failing are kept). OverBudget propagates: the file, not the
    rule, is at fault and analyse_within_budget skips it."""
    found: list[Finding] = []
    before = len(model.problems)
    try:
        for finding in rule.check(model):
            found.append(finding)
    except OverBudget:
        raise
    except Exception as exc:  # a bug in one rule must not hide the others' findings
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        model.problems.append(Problem(model.root, f"internal error in rule {rule.id}: {detail}"))
    added = model.problems[before:]
    del model.problems[before:]
    return found, added
