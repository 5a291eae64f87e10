"""global-singleton: every request goes to one object, named by a constant."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._common import REF_LIMITS, REF_RULES, node_span
from durable_harden.analyzers.tsutil import node_text, string_value

TEST_MARKERS = (".test.", ".spec.", "/test/", "/tests/", "/__tests__/")

DOCS = RuleDocs(
    what="""
Reports `env.NS.idFromName("…")` / `env.NS.getByName("…")` with a constant name (a string
literal or a template literal without substitutions). Test files are skipped.
""",
    why="""
One Durable Object handles roughly 500–1,000 requests per second. A constant name sends all
traffic of the Worker, from every location, to a single object in a single place: fine for
an admin or coordination object, a bottleneck (and a latency cost for far-away users) on the
request path. Shard by a key (user, room, tenant) so load spreads over many objects.
""",
    example="""
```ts
const counter = env.COUNTER.getByName("global");   // reported
const counter = env.COUNTER.getByName(userId);     // one object per user
```
""",
    references=(f"{REF_RULES} (one object handles ~500–1,000 req/s)", f"{REF_LIMITS}"),
    no_fix="""
Choosing a shard key is a design decision. Suppress the finding for objects that are meant to be
singletons (a configuration holder called rarely).
""",
)


def check(model: ProjectModel) -> Iterator[Finding]:
    for access in model.namespace_accesses:
        if access.method not in {"idFromName", "getByName"} or access.argument is None:
            continue
        config = model.config_for_path(access.file.path)
        base = config.root if config is not None else model.root
        try:
            rel = "/" + access.file.path.relative_to(base).as_posix()
        except ValueError:
            rel = access.file.path.as_posix()
        if any(marker in rel for marker in TEST_MARKERS):
            continue
        arg = access.argument
        data = access.file.data
        if arg.type == "string":
            name = string_value(data, arg)
        elif arg.type == "template_string" and not any(
            c.type == "template_substitution" for c in arg.children
        ):
            name = node_text(data, arg)[1:-1]
        else:
            continue
        yield RULE.finding(
            "constant-name",
            f"Every caller reaches the same object `{access.binding}` named `{name}`: one object "
            "serves all this traffic (≈500–1,000 req/s at most). Shard by a key if this is on "
            "the request path.",
            node_span(access.file, arg),
            data={"binding": access.binding, "name": name},
        )


RULE = Rule(
    id="global-singleton",
    title="A Durable Object reached by a constant name",
    severity=Severity.INFO,
    docs=DOCS,
    check=check,
    messages={
        "constant-name": "every caller reaches one object through a constant name",
    },
)
