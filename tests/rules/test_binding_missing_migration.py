"""binding-missing-migration: a bound class needs a migration (or an exports entry)."""

from __future__ import annotations

from pathlib import Path

from tests.rules._config_support import fixture, line_of, run, text_of

RULE = "binding-missing-migration"


def test_toml_migrations_with_rename_and_env_bindings_are_fine(tmp_path: Path) -> None:
    root = fixture(RULE, "migrated-toml", tmp_path)
    findings, model = run(RULE, root)
    assert findings == []
    assert [b.env for b in model.configs[0].bindings] == [None, None, "staging"]


def test_exports_block_declares_the_class(tmp_path: Path) -> None:
    root = fixture(RULE, "exports-block", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_missing_deleted_and_env_only_classes_are_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "missing-jsonc", tmp_path)
    findings, _ = run(RULE, root)
    reported = {(f.data["class"], f.data["env"], line_of(f), text_of(f)) for f in findings}
    assert reported == {
        ("Checkout", None, 10, '"Checkout"'),
        # created in v1, deleted in v2: binding it again fails
        ("Legacy", None, 11, '"Legacy"'),
        ("FraudCheck", "staging", 23, '"FraudCheck"'),
    }
    # script_name binding (TaxTable) and migrated Cart (also bound in env.staging) are fine
    assert not {"TaxTable", "Cart"} & {f.data["class"] for f in findings}
    assert all(f.data["style"] == "migrations" for f in findings)


def test_env_section_with_its_own_migrations(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.toml").write_text(
        'main = "src/index.ts"\n\n'
        "[[env.canary.durable_objects.bindings]]\n"
        'name = "C"\nclass_name = "Counter"\n\n'
        "[[env.canary.migrations]]\n"
        'tag = "v1"\nnew_sqlite_classes = ["Counter"]\n'
    )
    (root / "src" / "index.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Counter extends DurableObject {}\n"
    )
    findings, _ = run(RULE, root)
    assert findings == []


def test_exports_style_is_recorded_for_the_fix(tmp_path: Path) -> None:
    root = fixture(RULE, "exports-block", tmp_path)
    config = root / "wrangler.jsonc"
    config.write_text(
        config.read_text().replace(
            '"bindings": [{ "name": "NOTEBOOK", "class_name": "Notebook" }]',
            '"bindings": [{ "name": "NOTEBOOK", "class_name": "Notebook" }, '
            '{ "name": "TRASH", "class_name": "Trash" }]',
        )
    )
    findings, _ = run(RULE, root)
    assert [(f.data["class"], f.data["style"]) for f in findings] == [("Trash", "exports")]


def test_examples_exportjob_is_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    findings, _ = run(RULE, examples)
    assert [(f.data["class"], text_of(f)) for f in findings] == [("ExportJob", '"ExportJob"')]
