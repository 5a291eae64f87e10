"""The harden report (markdown): per class the patterns applied with priority and reason, files
created and modified, lines added/changed, what was left for review, how to verify."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from durable_harden.codeactions.harden.plan import AppliedFix, HardenPlan

from durable_harden.codeactions.harden.labels import pattern_label, rel
from durable_harden.codeactions.harden.outputs import VITEST_CONFIG_NAMES, _applied_order


# -- the report ---------------------------------------------------------------------------------
def render_report(plan: HardenPlan, *, written: bool) -> str:
    """The harden report (markdown): printed by the CLI, saved with --report, shown by the editor."""
    root = plan.root
    out: list[str] = ["# durable-harden report", ""]
    state = "applied" if written else "planned (nothing written)"
    mode = "safe and unsafe fixes" if plan.unsafe else "safe fixes only"
    out.append(
        f"Project `{root.name}`: {len(plan.applied)} fix(es) {state} ({mode}), "
        f"{len(plan.left_for_review())} finding(s) left, {plan.rounds} round(s)."
    )
    if not plan.converged:
        out.append("")
        out.append(
            "**Warning:** the fixes did not reach a fixed point; run harden again and review."
        )
    out.append("")
    by_class: dict[str, list[AppliedFix]] = {}
    for applied in plan.applied:
        by_class.setdefault(applied.class_name or "", []).append(applied)
    left: dict[str, list] = {}
    for leftover in plan.left_for_review():
        left.setdefault(leftover.class_name or "", []).append(leftover)
    for name in sorted(set(by_class) | set(left), key=lambda n: (n == "", n)):
        out.append(f"## {name or 'Project'}")
        out.append("")
        if by_class.get(name):
            out.append("Patterns applied:")
            for applied in sorted(by_class[name], key=_applied_order):
                fix = applied.fix
                where = rel(root, applied.finding.span.path)
                safety = "safe" if fix.is_safe else "unsafe"
                out.append(
                    f"- [{applied.priority}] **{pattern_label(applied.rule_id, fix.title)}** "
                    f"({applied.rule_id}, {safety}) in `{where}`: {fix.title}. "
                    f"Reason: {applied.finding.message}"
                )
                if not fix.is_safe and fix.review:
                    out.append(f"  - review: {' '.join(fix.review.split())}")
                if applied.merged:
                    out.append(f"  - also resolves {len(applied.merged)} identical finding(s)")
        if left.get(name):
            out.append("Left for review:")
            for leftover in left[name]:
                finding = leftover.finding
                where = rel(root, finding.span.path)
                source_line = _line_of(plan, finding)
                out.append(
                    f"- `{where}:{source_line}` {finding.rule_id}: {finding.message} "
                    f"— {leftover.label}"
                )
                if leftover.detail:
                    out.append(f"  - {' '.join(leftover.detail.split())}")
        out.append("")
    changes = plan.changes()
    if changes:
        stats = plan.line_stats()
        out.append("## Files")
        out.append("")
        for path in changes:
            added, removed = stats[path]
            verb = "created" if path in plan.created else "modified"
            why = f" ({plan.generated[path]})" if path in plan.generated else ""
            out.append(f"- {verb} `{rel(root, path)}`: +{added} −{removed} lines{why}")
        total_add = sum(a for a, _ in stats.values())
        total_del = sum(r for _, r in stats.values())
        out.append(f"- total: {len(changes)} file(s), +{total_add} −{total_del} lines")
        out.append("")
    if plan.notes:
        out.append("## Generated")
        out.append("")
        out.extend(f"- {note}" for note in plan.notes)
        out.append("")
    if plan.applied:
        out.append("## Verify")
        out.append("")
        out.append("```sh")
        for command in verify_commands(plan):
            out.append(command)
        out.append("```")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _line_of(plan: HardenPlan, finding) -> int:  # type: ignore[no-untyped-def]
    data = plan.contents.get(finding.span.path)
    if data is None:
        try:
            data = finding.span.path.read_bytes()
        except OSError:
            return 0
    return data.count(b"\n", 0, finding.span.start) + 1


def verify_commands(plan: HardenPlan) -> list[str]:
    roots = sorted(
        {p.parent for p in plan.contents if p.name == "package.json"} | _roots(plan), key=str
    )
    commands: list[str] = []
    for root in roots or [plan.root]:
        where = rel(plan.root, root)
        # a folder name is data in a command the user pastes: one quoted word
        prefix = f"(cd {shlex.quote(where)} && " if where not in ("", ".") else ""
        suffix = ")" if prefix else ""
        commands.append(f"{prefix}npx tsc --noEmit{suffix}")
        has_tests = any(p.parent.parent == root / "test" for p in plan.generated) or any(
            (root / name).exists() for name in VITEST_CONFIG_NAMES
        )
        if has_tests:
            commands.append(f"{prefix}npx vitest run{suffix}")
        script = root / "scripts" / "deploy-gradual.sh"
        if script.exists() or script in plan.contents:
            commands.append(f"{prefix}scripts/deploy-gradual.sh{suffix}")
    return commands


def _roots(plan: HardenPlan) -> set[Path]:
    roots: set[Path] = set()
    for applied in plan.applied:
        path = applied.finding.span.path
        for folder in path.parents:
            if (folder / "package.json").exists() or (folder / "package.json") in plan.contents:
                roots.add(folder)
                break
            if folder == plan.root:
                break
    return roots
