"""binding-class-not-found: a binding names a Durable Object class that exists nowhere."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from durable_harden.analyzers.findings import Finding, Rule, RuleDocs, Severity
from durable_harden.analyzers.model import ProjectModel
from durable_harden.analyzers.rules._bindings import (
    exports_name,
    known_files,
    local_bindings,
    main_module,
)
from durable_harden.analyzers.rules._common import REF_MIGRATIONS

DOCS = RuleDocs(
    what="""
Reports a `class_name` in `durable_objects.bindings` (no `script_name`) when no class of that
name is declared in any analysed file and the main module does not export the name from
elsewhere (a package re-export counts as existing). Typically a typo or a class that was
renamed in code but not in the config.
""",
    why="""
`wrangler deploy` fails when a bound class is not exported by the Worker; when the class was
renamed in code, the binding (and the migrations) must follow with a `renamed_classes`
migration, or the data of every object stays with the old name.
""",
    example="""
```jsonc
{ "name": "ROOMS", "class_name": "ChatRom" }   // reported: the class is ChatRoom
```
""",
    references=(f"{REF_MIGRATIONS}",),
)


def check(model: ProjectModel) -> Iterator[Finding]:
    known = known_files(model)
    for config in model.configs:
        bound = {b.class_name for b in config.bindings}
        for binding in local_bindings(config):
            if model.classes_named(binding.class_name):
                continue
            main = main_module(model, config, binding.env)
            if main is None or exports_name(main, binding.class_name, known) is not False:
                continue
            close = closest_class(binding.class_name, (c.name for c in model.classes), bound)
            yield RULE.finding(
                "unknown-class",
                f"Binding `{binding.name}` names class `{binding.class_name}`, which no file "
                f"declares.{hint_text(close)}",
                config.span((*binding.path, "class_name")),
                data={
                    "class": binding.class_name,
                    "config": str(config.path),
                    "suggestion": close,
                },
            )


def closest_class(class_name: str, class_names: Iterable[str], bound: set[str]) -> str | None:
    """The hint: the class of the model (`class_names`: every class's name) with the closest
    name, among those the config does not bind. (analyzers.split.rehint recomputes it when the
    check is split.)"""
    import difflib  # (only here: ~2.5 ms of every check's start-up otherwise)

    candidates = sorted(set(class_names) - bound)
    close = difflib.get_close_matches(class_name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


def hint_text(close: str | None) -> str:
    """The end of the message that says the hint."""
    return f" Did you mean `{close}`?" if close else ""


RULE = Rule(
    id="binding-class-not-found",
    title="A Durable Object binding names a class that does not exist",
    severity=Severity.ERROR,
    docs=DOCS,
    check=check,
    messages={
        "unknown-class": "a binding names a class no file declares (with the closest name, when there is one)",
    },
)
