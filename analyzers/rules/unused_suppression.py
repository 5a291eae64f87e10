"""unused-suppression: a `durable-harden-ignore` comment that silences nothing."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel

DOCS = RuleDocs(
    what="""
Reports `// durable-harden-ignore <rule>: reason` comments whose rule reports nothing on the line
they cover, file-wide `durable-harden-ignore-file` comments whose rule reports nothing in the
file, and suppressions naming a rule that does not exist.
""",
    why="""
A suppression that no longer silences anything hides the next real problem on that line and
misleads readers about the code (the same reasoning as ESLint's unused disable directives and
Ruff's RUF100).
""",
    example="""
```ts
// durable-harden-ignore timer-blocks-hibernation: yields to the event loop
await scheduler.wait(1);   // nothing to suppress here any more
```
""",
    references=(
        "https://eslint.org/docs/latest/use/command-line-interface#--report-unused-disable-directives",
    ),
)


def check(model: ProjectModel) -> Iterator[Finding]:
    # Computed by the analysis after suppressions are applied (analyzers.analysis).
    return iter(())


RULE = Rule(
    id="unused-suppression",
    title="A suppression comment that silences nothing",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "unused": "a suppression whose rule reports nothing where it applies",
        "unknown-rule": "a suppression naming a rule that does not exist",
    },
)
