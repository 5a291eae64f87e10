"""unawaited-rpc: a Durable Object stub method called and its promise dropped."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._bindings import all_stub_calls
from durable_harden.analyzers.rules._common import REF_RULES, node_span
from durable_harden.analyzers.tsutil import enclosing_function

DOCS = RuleDocs(
    what="""
Reports a call of a method on a Durable Object stub (`env.ROOM.getByName(n).post(m)`,
`stub.post(m)` after `const stub = env.ROOM.get(id)`) that stands alone as a statement: not
awaited, returned, assigned, passed on or handed to `waitUntil()`. `void stub.m()` is taken as
a deliberate choice and not reported.
""",
    why="""
Every stub call is asynchronous, even when the method in the object is synchronous. A dropped
promise hides exceptions (the object may have thrown, been reset or overloaded) and, in a
Worker, the request may finish and cancel the call before it reaches the object. Cloudflare's
rules say: always `await` stub calls, or hand them to `ctx.waitUntil()` when the result is
deliberately not needed.
""",
    example="""
```ts
env.AUDIT_LOG.getByName(userId).record("login");        // reported
await env.AUDIT_LOG.getByName(userId).record("login");  // fixed
ctx.waitUntil(env.AUDIT_LOG.getByName(userId).record("login")); // fire and forget, kept alive
```
""",
    references=(f"{REF_RULES} (always await RPC calls)",),
)


def check(model: ProjectModel) -> Iterator[Finding]:
    for call in all_stub_calls(model):
        parent = call.call.parent
        if parent is None or parent.type != "expression_statement":
            continue
        func = enclosing_function(call.call)
        is_async = func is not None and any(child.type == "async" for child in func.children)
        yield RULE.finding(
            "not-awaited",
            f"Stub call `{call.method}()` is not awaited: its errors are lost and the call may "
            "be cancelled when the request ends; `await` it (or pass it to `ctx.waitUntil()`).",
            node_span(call.file, call.call),
            data={"method": call.method, "async": is_async},
        )


RULE = Rule(
    id="unawaited-rpc",
    title="A Durable Object stub call whose promise is dropped",
    severity=Severity.WARNING,
    docs=DOCS,
    check=check,
    messages={
        "not-awaited": "a stub call that is not awaited",
    },
)
