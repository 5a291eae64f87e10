"""class-not-exported: bound classes must be named exports of the main module."""

from __future__ import annotations

from pathlib import Path

from tests.rules._config_support import fixture, line_of, run, text_of

RULE = "class-not-exported"


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
