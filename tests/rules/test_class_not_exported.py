"""class-not-exported: bound classes must be named exports of the main module."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.codeactions import fixes_for
from tests.rules._config_support import (
    fix_all,
    fixture,
    line_of,
    no_new_syntax_errors,
    run,
    snapshot,
    text_of,
)
from tests.rules._snapshot import Snapshots, check_case, fixture_cases
from tests.rules._support import check_examples

RULE = "class-not-exported"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


def test_reexport_chains_and_renames_count_as_exported(tmp_path: Path) -> None:
    # export * from "./objects" -> export { Counter } from "./counter";
    # export { RoomImpl as Room } from "./room"; jsonc with comments and trailing commas;
    # env.staging bindings; a script_name binding to another Worker's class.
    root = fixture(RULE, "exported", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    assert {b.class_name for b in model.configs[0].bindings} == {
        "Counter",
        "Room",
        "Presence",
        "BillingLedger",
    }


def test_unexported_default_exported_and_env_bound_classes_are_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "missing", tmp_path)
    findings, _ = run(RULE, root)
    reported = {(f.data["class"], f.data["env"], line_of(f), text_of(f)) for f in findings}
    assert reported == {
        # `export { Ledger as LedgerV1 }` exports another name
        ("Ledger", None, 8, '"Ledger"'),
        # `export default class Inbox` is not a named export
        ("Inbox", None, 12, '"Inbox"'),
        # [[env.staging.durable_objects.bindings]]
        ("ShadowLedger", "staging", 25, '"ShadowLedger"'),
    }
    # AuditTrail has script_name: another Worker's class, never reported
    assert all(f.data["class"] != "AuditTrail" for f in findings)
    ledger = next(f for f in findings if f.data["class"] == "Ledger")
    assert any(r.message == "class declared here" for r in ledger.related)


def test_main_module_not_analysed_reports_nothing(tmp_path: Path) -> None:
    root = fixture(RULE, "no-main", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_reexport_of_a_name_the_target_does_not_export_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }] },\n'
        '  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }] }\n'
    )
    (root / "src" / "index.ts").write_text('export { Counter } from "./counter";\n')
    (root / "src" / "counter.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "class Counter extends DurableObject {}\n"
        "export { Counter as Count };\n"
    )
    findings, _ = run(RULE, root)
    assert [f.data["class"] for f in findings] == ["Counter"]


def test_reexport_from_a_package_is_unknown_and_not_reported(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }] } }\n'
    )
    (root / "src" / "index.ts").write_text('export * from "@acme/objects";\n')
    findings, _ = run(RULE, root)
    assert findings == []


def test_examples_auditlog_is_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    findings, _ = run(RULE, examples)
    assert [(f.data["class"], text_of(f)) for f in findings] == [("AuditLog", '"AuditLog"')]


# -- the fix ---------------------------------------------------------------------------------


def test_fix_reexports_from_the_main_module(tmp_path: Path) -> None:
    root = fixture(RULE, "missing", tmp_path)
    index = root / "src" / "index.ts"
    before = snapshot(root)
    assert fix_all(RULE, root) == 3
    assert run(RULE, root)[0] == []
    assert fix_all(RULE, root) == 0  # idempotent
    no_new_syntax_errors(before, root)
    assert index.read_text() == before["src/index.ts"].decode().replace(
        'import { Ledger } from "./ledger";\n',
        'import { Ledger } from "./ledger";\n'
        'export { Ledger } from "./ledger";\n'
        'export { default as Inbox } from "./inbox";\n'
        'export { ShadowLedger } from "./ledger";\n',
    )
    # the config and the class files are untouched
    after = snapshot(root)
    assert {k for k in before if before[k] != after[k]} == {"src/index.ts"}


def test_fix_adds_export_to_a_class_that_its_own_file_does_not_export(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src" / "objects").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/worker.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }, { "name": "M", "class_name": "Meter" }] } }\n'
    )
    (root / "src" / "worker.ts").write_text(
        "// entry point\n"
        "import { helper } from './util.js'; // shared helpers\n"
        "import { DurableObject } from 'cloudflare:workers'\n"
        "\n"
        "class Meter extends DurableObject {}\n"
        "export default { fetch: () => new Response(helper()) }\n"
    )
    (root / "src" / "util.ts").write_text("export const helper = () => 'ok';\n")
    (root / "src" / "objects" / "counter.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "class Counter extends DurableObject {}\n"
    )
    before = snapshot(root)
    assert fix_all(RULE, root) == 2
    assert run(RULE, root)[0] == []
    no_new_syntax_errors(before, root)
    # quote style, missing semicolons and `.js` specifiers follow the main module's imports
    assert (root / "src" / "worker.ts").read_text() == (
        "// entry point\n"
        "import { helper } from './util.js'; // shared helpers\n"
        "import { DurableObject } from 'cloudflare:workers'\n"
        "export { Counter } from './objects/counter.js'\n"
        "\n"
        "export class Meter extends DurableObject {}\n"
        "export default { fetch: () => new Response(helper()) }\n"
    )
    assert (
        (root / "src" / "objects" / "counter.ts")
        .read_text()
        .endswith("export class Counter extends DurableObject {}\n")
    )


def test_no_fix_when_the_class_is_declared_twice_or_nowhere(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }, { "name": "G", "class_name": "Ghost" }] } }\n'
    )
    (root / "src" / "index.ts").write_text("export default {};\n")
    for name in ("a.ts", "b.ts"):
        (root / "src" / name).write_text(
            'import { DurableObject } from "cloudflare:workers";\n'
            "export class Counter extends DurableObject {}\n"
        )
    findings, model = run(RULE, root)
    # Ghost exists nowhere: binding-class-not-found reports it, not this rule
    assert sorted(f.data["class"] for f in findings) == ["Counter"]
    assert all(fixes_for(f, model) == [] for f in findings)


def test_fix_exports_the_class_where_the_main_module_already_reexports_it(
    tmp_path: Path,
) -> None:
    """`export { Counter } from "./counter"` in the main module, but counter.ts does not export
    it: the fix exports the class there; a second re-export line would be a duplicate export."""
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }] } }\n'
    )
    index = 'export { Counter } from "./counter";\nexport default {};\n'
    (root / "src" / "index.ts").write_text(index)
    (root / "src" / "counter.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "class Counter extends DurableObject {}\n"
        "export { Counter as Count };\n"
    )
    assert fix_all(RULE, root) == 1
    assert run(RULE, root)[0] == []
    assert (root / "src" / "index.ts").read_text() == index
    assert (
        "export class Counter extends DurableObject {}" in (root / "src" / "counter.ts").read_text()
    )


def test_no_fix_for_a_class_inside_a_block_or_an_existing_export_of_the_name(
    tmp_path: Path,
) -> None:
    """A class declared inside a block (a file broken mid-edit: its first line moved below) is
    exported by no statement; and a main module that already exports the name from elsewhere
    would get a duplicate export. Neither gets a fix (found by the broken-file property test:
    `check --fix` added the same re-export on every run)."""
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "J", "class_name": "Job" }, { "name": "K", "class_name": "Keeper" }] } }\n'
    )
    (root / "src" / "index.ts").write_text(
        'export { Job } from "./job";\nexport { Keeper } from "./elsewhere";\nexport default {};\n'
    )
    (root / "src" / "elsewhere.ts").write_text("export const Other = 1;\n")
    (root / "src" / "job.ts").write_text(
        "if (ready) {\n"
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Job extends DurableObject {}\n"
        "}\n"
    )
    (root / "src" / "keeper.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Keeper extends DurableObject {}\n"
    )
    findings, model = run(RULE, root)
    assert sorted(f.data["class"] for f in findings) == ["Job", "Keeper"]
    assert all(fixes_for(f, model) == [] for f in findings)
