"""rpc-compat-date: RPC on Durable Object stubs before compatibility_date 2024-04-03."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._bindings import all_stub_calls
from durable_harden.analyzers.rules._common import REF_RULES, node_span
from durable_harden.analyzers.wrangler import WranglerConfig

RPC_DATE = "2024-04-03"
NOT_RPC = frozenset({"fetch", "connect"})

DOCS = RuleDocs(
    what="""
Reports calls of stub methods other than `fetch()` (RPC) in a Worker whose wrangler config has
a `compatibility_date` before 2024-04-03 (and no `rpc` compatibility flag).
""",
    why="""
JavaScript RPC on Durable Object stubs exists from compatibility_date 2024-04-03. With an
older date the call fails at run time (the stub has no such method), although it type-checks.
""",
    example="""
```jsonc
"compatibility_date": "2024-01-15"   // reported where the code calls stub.increment()
```
""",
    references=(
        f"{REF_RULES}",
        "https://developers.cloudflare.com/workers/configuration/compatibility-dates/",
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class RpcDateState:
    """What the fix needs: the config whose compatibility_date is too old."""

    config: WranglerConfig


def check(model: ProjectModel) -> Iterator[Finding]:
    for call in all_stub_calls(model):
        if call.method in NOT_RPC:
            continue
        config = model.config_for_path(call.file.path)
        if config is None or config.compat_at_least(RPC_DATE, "rpc") is not False:
            continue
        yield RULE.finding(
            "date-too-old",
            f"RPC call `{call.method}()` on a Durable Object stub needs compatibility_date "
            f">= {RPC_DATE}; {config.path.name} has {config.compatibility_date}.",
            node_span(call.file, call.call),
            related=[Related(config.span(("compatibility_date",)), "compatibility_date")],
            data={"config": str(config.path), "method": call.method},
            state=RpcDateState(config),
        )


RULE = Rule(
    id="rpc-compat-date",
    title="RPC on a stub with a compatibility_date before 2024-04-03",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "date-too-old": "an RPC call with a compatibility_date before RPC",
    },
)
