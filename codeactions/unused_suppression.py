"""Fix for unused-suppression: remove the directive, or the one unused rule named in it."""

from __future__ import annotations

from durable_harden.analyzers.findings import Finding
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.suppressions import DIRECTIVE
from durable_harden.codeactions.fix import Edit, Fix, Safety
from durable_harden.codeactions.spec import SAFE, FixDocs, FixSpec, Offer


def _data(finding: Finding, model: ProjectModel) -> bytes | None:
    source = model.file(finding.path)
    if source is not None:
        return source.data
    config = next((c for c in model.configs if c.path == finding.path), None)
    return config.data if config is not None else None


def remove_suppression(finding: Finding, model: ProjectModel) -> list[Fix]:
    data = _data(finding, model)
    if data is None:
        return []
    match = DIRECTIVE.match(data, finding.span.start)
    if match is None:
        return []
    path = finding.path
    unused = finding.data.get("suppressed_rule", "*")
    rules_start, rules_end = match.span("rules")
    named = (
        [r.strip() for r in match.group("rules").decode().split(",") if r.strip()]
        if rules_start >= 0
        else ["*"]
    )
    if len(named) > 1 and unused in named:
        # keep the directive for the other rules: rewrite only its list of rules
        rest = ", ".join(r for r in named if r != unused)
        return [
            Fix(
                fix_id=f"remove-unused-suppression:{unused}",
                title=f"Remove `{unused}` from the suppression comment",
                safety=Safety.SAFE,
                edits=[Edit(path, rules_start, rules_end, rest)],
                review="",
            )
        ]
    line_start = data.rfind(b"\n", 0, match.start()) + 1
    line_end = data.find(b"\n", match.end())
    line_end = len(data) if line_end == -1 else line_end + 1
    before = data[line_start : match.start()]
    if before.strip() == b"":
        start, end = line_start, line_end  # the comment is the whole line: drop the line
    else:
        start = line_start + len(before.rstrip(b" \t"))  # a trailing comment: keep the code
        end = match.end()
    return [
        Fix(
            fix_id="remove-unused-suppression",
            title="Remove the unused suppression comment",
            safety=Safety.SAFE,
            edits=[Edit(path, start, end, "")],
            review="",
        )
    ]


FIX_DOCS = FixDocs(
    offers=(
        Offer(
            "delete the comment",
            SAFE,
            """
Deletes the suppression comment (or the rule's name from a comment that names several).
""",
            why="""
Safe: the comment silences nothing.
""",
        ),
    ),
)


SPEC = FixSpec("unused-suppression", remove_suppression, docs=FIX_DOCS)
