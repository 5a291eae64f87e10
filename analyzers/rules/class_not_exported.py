"""class-not-exported: a bound Durable Object class that the Worker's main module does not export."""

from __future__ import annotations

from collections.abc import Iterator

from durable_harden.analyzers.classes import DurableObjectClass
from durable_harden.analyzers.findings import Finding, Related, Rule, RuleDocs, Severity, Span
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.records import frozen
from durable_harden.analyzers.rules._bindings import (
    exports_name,
    known_files,
    local_bindings,
    main_module,
)
from durable_harden.analyzers.rules._common import REF_RULES, node_span
from durable_harden.analyzers.source import SourceFile

REF_CONFIG = "https://developers.cloudflare.com/workers/wrangler/configuration/#durable-objects"

DOCS = RuleDocs(
    what="""
Reports a `class_name` in `durable_objects.bindings` (top level or an `env.<name>` section) that
is not a *named* export of the Worker's `main` module. Re-exports are followed:
`export { X } from "./x"`, `export { Impl as X } from "./x"` and `export * from "./x"` chains
count, as does `export class X`. `export default class X` does not. A class that no file
declares is left to `binding-class-not-found`. Bindings with a
`script_name` point at another Worker's class and are skipped. When the main module is not among
the analysed files, or a re-export chain leaves them (a package), nothing is reported.
""",
    why="""
The runtime instantiates a Durable Object class by looking it up among the named exports of the
Worker's entry module. A class that is bound but not exported makes `wrangler deploy` fail
("… not exported in your entrypoint file"); with a gradual rollout it fails at upload.
""",
    example="""
```jsonc
// wrangler.jsonc
"durable_objects": { "bindings": [{ "name": "AUDIT_LOG", "class_name": "AuditLog" }] }
```
```ts
// src/index.ts — reported: AuditLog is bound but not exported
export { RateLimiter } from "./rate-limiter";

// fixed
export { AuditLog } from "./audit-log";
```
""",
    references=(
        f"{REF_CONFIG}",
        f"{REF_RULES}",
        "wrangler deploy fails when a bound class is not a named export of the main module "
        '("…not exported in your entrypoint file"; workers-sdk, packages/wrangler)',
    ),
)


@frozen(eq=False)  # never compared nor hashed (Finding.state)
class ExportState:
    """What the fix needs: the main module and the classes declared with the bound name."""

    main: SourceFile
    declared: tuple[DurableObjectClass, ...]


def check(model: ProjectModel) -> Iterator[Finding]:
    known = known_files(model)
    for config in model.configs:
        for binding in local_bindings(config):
            main = main_module(model, config, binding.env)
            if main is None:
                continue  # the entry module was not analysed: we cannot tell
            if exports_name(main, binding.class_name, known) is not False:
                continue
            declared = model.classes_named(binding.class_name)
            if not declared:
                continue  # exists nowhere: binding-class-not-found reports it
            related = [
                Related(node_span(c.file, c.name_node), "class declared here") for c in declared
            ]
            related.append(Related(Span(main.path, 0, 0), "main module"))
            where = f" (env `{binding.env}`)" if binding.env else ""
            yield RULE.finding(
                "not-exported",
                f"Durable Object class `{binding.class_name}` is bound as `{binding.name}`{where} "
                f"but is not a named export of the main module `{main.path.name}`; "
                "deploys fail until it is exported.",
                config.span((*binding.path, "class_name")),
                related=related,
                data={
                    "class": binding.class_name,
                    "binding": binding.name,
                    "env": binding.env,
                    "main": str(main.path),
                    "config": str(config.path),
                },
                state=ExportState(main, tuple(declared)),
            )


RULE = Rule(
    id="class-not-exported",
    title="A bound Durable Object class is not exported from the main module",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "not-exported": "a bound class is not a named export of the main module",
    },
)
