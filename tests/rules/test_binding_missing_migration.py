"""binding-missing-migration: a bound class needs a migration (or an exports entry)."""

from __future__ import annotations

from pathlib import Path

import json5
import pytest

from durable_harden.analyzers.rules._bindings import declared_classes
from durable_harden.analyzers.wrangler import load_config
from durable_harden.codeactions import Fix, fixes_for
from tests.rules._config_support import apply_fix, fix_all, fixture, line_of, run, text_of
from tests.rules._snapshot import Snapshots, check_case, expect_file, fixture_cases
from tests.rules._support import FIXTURES, check_examples

RULE = "binding-missing-migration"


@pytest.mark.parametrize("case", fixture_cases(RULE))
def test_snapshot(case: str, tmp_path: Path, snapshots: Snapshots) -> None:
    """The rule and its fixes on each fixture case, compared with its snapshot."""
    check_case(RULE, case, tmp_path, snapshots)


def test_examples() -> None:
    check_examples(RULE)


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


# -- the fix ---------------------------------------------------------------------------------


def _one_fix(root: Path) -> tuple[object, Fix]:
    findings, model = run(RULE, root)
    assert findings
    fixes = fixes_for(findings[0], model)
    assert len(fixes) == 1
    return findings[0], fixes[0]


def _assert_insertions_only(before: bytes, fix: Fix) -> None:
    for edit in fix.edits:
        assert edit.start == edit.end or not before[edit.start : edit.end].strip(), edit


def _fixed(tmp_path: Path, name: str, text: str, src: str | None = None) -> tuple[bytes, bytes]:
    root = tmp_path / "p"
    (root / "src").mkdir(parents=True)
    (root / name).write_bytes(text.encode())
    (root / "src" / "index.ts").write_text(
        src
        or 'import { DurableObject } from "cloudflare:workers";\n'
        "export class Counter extends DurableObject {}\n"
        "export class Room extends DurableObject {}\n"
    )
    before = (root / name).read_bytes()
    _, fix = _one_fix(root)
    assert fix.is_safe and fix.review
    _assert_insertions_only(before, fix)
    apply_fix(fix)
    fix_all(RULE, root)
    after = (root / name).read_bytes()
    # converged: nothing left to report, and fix-all again changes nothing
    assert run(RULE, root)[0] == []
    assert fix_all(RULE, root) == 0 and (root / name).read_bytes() == after
    config = load_config(root / name)  # re-parses with json5 / tomllib
    assert all(b.class_name in declared_classes(config, b.env) for b in config.bindings)
    return before, after


def test_jsonc_multiline_entries_keep_their_shape_and_comments(tmp_path: Path) -> None:
    before, after = _fixed(
        tmp_path,
        "wrangler.jsonc",
        """// counters
{
  "main": "src/index.ts",
  "durable_objects": {
    "bindings": [
      { "name": "COUNTER", "class_name": "Counter" },
      { "name": "ROOM", "class_name": "Room" } // added today
    ]
  },
  // Applied in order; never rewrite an entry that has been deployed.
  "migrations": [
    {
      "tag": "v1",
      "new_sqlite_classes": ["Counter"]
    } // first deploy
  ]
}
""",
    )
    assert after.decode() == before.decode().replace(
        """    } // first deploy
""",
        """    }, // first deploy
    {
      "tag": "v2",
      "new_sqlite_classes": ["Room"]
    }
""",
    )
    json5.loads(after.decode())


def test_jsonc_one_line_entries_with_trailing_commas(tmp_path: Path) -> None:
    before, after = _fixed(
        tmp_path,
        "wrangler.jsonc",
        """{
  "main": "src/index.ts",
  "durable_objects": { "bindings": [{ "name": "C", "class_name": "Counter" }, { "name": "R", "class_name": "Room" },], },
  "migrations": [
    { "tag": "v7", "new_sqlite_classes": ["Counter"] }, /* deployed 2026-01 */
  ],
}
""",
    )
    assert after.decode() == before.decode().replace(
        '["Counter"] }, /* deployed 2026-01 */\n',
        '["Counter"] },\n    { "tag": "v8", "new_sqlite_classes": ["Room"] }, /* deployed 2026-01 */\n',
    )


def test_jsonc_without_migrations_gets_the_key(tmp_path: Path) -> None:
    before, after = _fixed(
        tmp_path,
        "wrangler.jsonc",
        """{
  "main": "src/index.ts",
  "durable_objects": { "bindings": [{ "name": "C", "class_name": "Counter" }] } // one binding
}
""",
    )
    assert after.decode() == before.decode().replace(
        "} // one binding\n",
        '}, // one binding\n  "migrations": [\n    { "tag": "v1", "new_sqlite_classes": ["Counter"] }\n  ]\n',
    )


def test_jsonc_empty_migrations_array(tmp_path: Path) -> None:
    _, after = _fixed(
        tmp_path,
        "wrangler.json",
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }] }, "migrations": [] }\n',
    )
    assert b'"migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }] }' in after


def test_toml_appends_a_migrations_table_after_the_last_one(tmp_path: Path) -> None:
    before, after = _fixed(
        tmp_path,
        "wrangler.toml",
        """name = "counters"
main = "src/index.ts"

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[durable_objects.bindings]]
name = "ROOM"
class_name = "Room"

# history: never edit a deployed entry
[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]  # first deploy

# observability comes last
[observability]
enabled = true
""",
    )
    assert after.decode() == before.decode().replace(
        '["Counter"]  # first deploy\n',
        '["Counter"]  # first deploy\n\n[[migrations]]\ntag = "v2"\nnew_sqlite_classes = ["Room"]\n',
    )


def test_toml_without_migrations_and_crlf(tmp_path: Path) -> None:
    text = 'main = "src/index.ts"\r\n\r\n[[durable_objects.bindings]]\r\nname = "C"\r\nclass_name = "Counter"\r\n'
    before, after = _fixed(tmp_path, "wrangler.toml", text)
    assert (
        after
        == before + b'\r\n[[migrations]]\r\ntag = "v1"\r\nnew_sqlite_classes = ["Counter"]\r\n'
    )


def test_toml_inline_migrations_array(tmp_path: Path) -> None:
    _, after = _fixed(
        tmp_path,
        "wrangler.toml",
        'main = "src/index.ts"\nmigrations = [{ tag = "v1", new_sqlite_classes = ["Counter"] }]\n\n'
        '[[durable_objects.bindings]]\nname = "C"\nclass_name = "Counter"\n\n'
        '[[durable_objects.bindings]]\nname = "R"\nclass_name = "Room"\n',
    )
    assert (
        b'migrations = [{ tag = "v1", new_sqlite_classes = ["Counter"] }, '
        b'{ tag = "v2", new_sqlite_classes = ["Room"] }]\n' in after
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "wrangler.jsonc",
            '{\n  "main": "src/index.ts",\n  "durable_objects": { "bindings": [{ "name": "C", '
            '"class_name": "Counter" }] },\n  "exports": {\n    "Room": { "type": "durable-object",'
            ' "storage": "sqlite" }\n  }\n}\n',
            '    "Room": { "type": "durable-object", "storage": "sqlite" },\n'
            '    "Counter": { "type": "durable-object", "storage": "sqlite" }\n',
        ),
        (
            "wrangler.toml",
            'main = "src/index.ts"\n\n[[durable_objects.bindings]]\nname = "C"\n'
            'class_name = "Counter"\n\n[exports.Room]\ntype = "durable-object"\nstorage = "sqlite"\n',
            '[exports.Room]\ntype = "durable-object"\nstorage = "sqlite"\n\n'
            '[exports.Counter]\ntype = "durable-object"\nstorage = "sqlite"\n',
        ),
    ],
)
def test_exports_style_gets_an_exports_entry(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    _, after = _fixed(tmp_path, name, text)
    assert expected in after.decode()
    assert b"migrations" not in after


def test_env_section_with_its_own_migrations_gets_the_entry(tmp_path: Path) -> None:
    _, after = _fixed(
        tmp_path,
        "wrangler.jsonc",
        """{
  "main": "src/index.ts",
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["Counter"] }],
  "env": {
    "canary": {
      "durable_objects": { "bindings": [{ "name": "R", "class_name": "Room" }] },
      "migrations": [{ "tag": "c1", "new_sqlite_classes": ["Counter"] }]
    }
  }
}
""",
    )
    assert (
        b'"migrations": [{ "tag": "c1", "new_sqlite_classes": ["Counter"] }, { "tag": "c2", "new_sqlite_classes": ["Room"] }]'
        in after
    )


def test_recreating_a_deleted_class_is_unsafe(tmp_path: Path) -> None:
    root = fixture(RULE, "missing-jsonc", tmp_path)
    findings, model = run(RULE, root)
    legacy = next(f for f in findings if f.data["class"] == "Legacy")
    (fix,) = fixes_for(legacy, model)
    assert not fix.is_safe and "deleted" in fix.review


def test_fixture_fix_all_matches_after_file(tmp_path: Path) -> None:
    root = fixture(RULE, "missing-jsonc", tmp_path)
    assert fix_all(RULE, root, unsafe=True) == 3
    expected = FIXTURES / RULE / "missing-jsonc.after.jsonc"
    expect_file((root / "wrangler.jsonc").read_text(), expected)


def test_toml_crlf_appends_after_the_last_migrations_table(tmp_path: Path) -> None:
    """Regression (found by tests/test_fix_properties_all.py): tree-sitter-toml counts a CRLF's
    `\\r` in the last key's span, and the new `[[migrations]]` went between `\\r` and `\\n`."""
    text = (
        'main = "src/index.ts"\r\n\r\n'
        '[[durable_objects.bindings]]\r\nname = "C"\r\nclass_name = "Counter"\r\n\r\n'
        '[[durable_objects.bindings]]\r\nname = "R"\r\nclass_name = "Room"\r\n\r\n'
        '[[migrations]]\r\ntag = "v1"\r\nnew_sqlite_classes = ["Counter"]\r\n'
    )
    before, after = _fixed(tmp_path, "wrangler.toml", text)
    assert after == before.replace(
        b'["Counter"]\r\n',
        b'["Counter"]\r\n\r\n[[migrations]]\r\ntag = "v2"\r\nnew_sqlite_classes = ["Room"]\r\n',
    )
