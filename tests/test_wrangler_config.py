"""Wrangler config parsing: values from tomllib/json5, byte spans from tree-sitter."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_harden.analyzers.wrangler import ConfigError, load_config

JSONC = b"""// top comment
{
  "name": "app", // trailing comment
  /* block
     comment */
  "main": "src/index.ts",
  "compatibility_date": "2026-03-01",
  "durable_objects": {
    "bindings": [
      // the counter
      { "name": "COUNTER", "class_name": "Counter", },
      { "name": "REMOTE", "class_name": "Remote", "script_name": "other" },
    ],
  },
  "migrations": [
    { "tag": "v1", "new_sqlite_classes": ["Counter"] },
    { "tag": "v2", "renamed_classes": [{ "from": "Counter", "to": "Tally" }] },
  ],
  "env": {
    "staging": {
      "durable_objects": { "bindings": [{ "name": "COUNTER", "class_name": "Tally" }] },
    },
  },
}
"""

TOML = b"""name = "app"
main = "src/index.ts"
compatibility_date = 2026-03-01  # a TOML date, not a string

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"   # comment after the value

[[durable_objects.bindings]]
name = "ROOM"
class_name = "Room"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]

[[migrations]]
tag = "v2"
new_classes = ["Room"]
deleted_classes = []

[[env.staging.durable_objects.bindings]]
name = "ROOM"
class_name = "Room"
"""


def _at(data: bytes, span: tuple[int, int]) -> bytes:
    return data[span[0] : span[1]]


def test_jsonc_with_comments_and_trailing_commas(tmp_path: Path) -> None:
    path = tmp_path / "wrangler.jsonc"
    config = load_config(path, JSONC)
    assert config.format == "json"
    assert config.name == "app"
    assert config.main == (tmp_path / "src/index.ts").resolve()
    assert [(b.name, b.class_name, b.script_name, b.env) for b in config.bindings] == [
        ("COUNTER", "Counter", None, None),
        ("REMOTE", "Remote", "other", None),
        ("COUNTER", "Tally", None, "staging"),
    ]
    assert config.declared_classes() == {"Tally"}
    assert [m.tag for m in config.migrations] == ["v1", "v2"]


def test_jsonc_spans_point_at_the_right_bytes(tmp_path: Path) -> None:
    config = load_config(tmp_path / "wrangler.jsonc", JSONC)
    first = config.bindings[0]
    span = config.span((*first.path, "class_name"))
    assert JSONC[span.start : span.end] == b'"Counter"'
    assert _at(JSONC, config.spans[(*first.path, "class_name")].pair) == b'"class_name": "Counter"'
    staging = config.bindings[2]
    assert staging.path == ("env", "staging", "durable_objects", "bindings", 0)
    span = config.span((*staging.path, "class_name"))
    assert JSONC[span.start : span.end] == b'"Tally"'
    migrations = config.spans[("migrations",)]
    assert _at(JSONC, migrations.value).startswith(b"[") and _at(JSONC, migrations.value).endswith(
        b"]"
    )
    second = config.span(("migrations", 1))
    assert JSONC[second.start : second.end].startswith(b'{ "tag": "v2"')


def test_toml_tables_and_spans(tmp_path: Path) -> None:
    config = load_config(tmp_path / "wrangler.toml", TOML)
    assert config.format == "toml"
    assert config.compatibility_date == "2026-03-01"
    assert [(b.class_name, b.env) for b in config.bindings] == [
        ("Counter", None),
        ("Room", None),
        ("Room", "staging"),
    ]
    assert config.declared_classes() == {"Counter", "Room"}
    assert config.migrations[1].new_classes == ["Room"]
    for binding, expected in zip(
        config.bindings, [b'"Counter"', b'"Room"', b'"Room"'], strict=True
    ):
        span = config.span((*binding.path, "class_name"))
        assert TOML[span.start : span.end] == expected
    table = config.span(("migrations", 1), value=False)
    assert TOML[table.start : table.end].startswith(b'[[migrations]]\ntag = "v2"')


def test_span_falls_back_to_the_nearest_located_ancestor(tmp_path: Path) -> None:
    config = load_config(tmp_path / "wrangler.jsonc", JSONC)
    span = config.span(("durable_objects", "bindings", 0, "no_such_key"))
    assert JSONC[span.start : span.end].startswith(b'{ "name": "COUNTER"')


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("wrangler.jsonc", b'{ "name": "x", "main": }', "invalid JSON"),
        ("wrangler.json", b"[1, 2]", "top level must be an object"),
        ("wrangler.toml", b'name = "x"\nmain = \n', "invalid TOML"),
        ("wrangler.toml", b"\xff\xfe name", "not valid UTF-8"),
    ],
)
def test_malformed_config_gives_a_clear_message(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / name, data)


def test_malformed_config_is_a_problem_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    from durable_harden.analyzers.analysis import Settings, analyze_paths

    good = tmp_path / "good"
    (good / "src").mkdir(parents=True)
    (good / "wrangler.jsonc").write_text(
        '{ "main": "src/index.ts", "durable_objects": { "bindings": '
        '[{ "name": "C", "class_name": "Counter" }] } }'
    )
    (good / "src" / "index.ts").write_text(
        'import { DurableObject } from "cloudflare:workers";\n'
        "export class Counter extends DurableObject {}\n"
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "wrangler.toml").write_text('name = "x"\n[[durable_objects.bindings]\n')
    result = analyze_paths([good, bad], Settings(select=["binding-missing-migration"]))
    assert [f.data["class"] for f in result.findings] == ["Counter"]
    messages = [p.message for p in result.problems if p.path.name == "wrangler.toml"]
    assert len(messages) == 1 and "invalid TOML" in messages[0]


def test_an_environments_own_config_file_is_read(tmp_path: Path) -> None:
    # `wrangler.production.toml` (deployed with --config) is a config like `wrangler.toml`, and
    # `[env.<name>]` sections bind classes too
    from durable_harden.analyzers.analysis import Settings, analyze_paths
    from durable_harden.analyzers.wrangler import is_config_name

    assert is_config_name("wrangler.production.toml") and is_config_name("wrangler.test.jsonc")
    assert not is_config_name("wrangler-notes.toml") and not is_config_name("wrangler.ts")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.ts").write_text(
        "export class Room { constructor(private state: DurableObjectState) {} }\n"
    )
    (tmp_path / "wrangler.toml").write_text('name = "w"\nmain = "src/index.ts"\n')
    (tmp_path / "wrangler.production.toml").write_text(
        'name = "w-prod"\nmain = "src/index.ts"\ncompatibility_date = "2026-01-01"\n'
        '[[env.eu.durable_objects.bindings]]\nname = "ROOM"\nclass_name = "Room"\n'
        '[[migrations]]\ntag = "v1"\nnew_classes = ["Room"]\n'
    )
    result = analyze_paths([tmp_path], Settings(select=["kv-backed-class"]))
    assert sorted(c.path.name for c in result.model.configs) == [
        "wrangler.production.toml",
        "wrangler.toml",
    ]
    env_config = next(c for c in result.model.configs if c.path.name != "wrangler.toml")
    assert [(b.env, b.class_name) for b in env_config.bindings] == [("eu", "Room")]
    (finding,) = result.findings
    assert finding.path.name == "wrangler.production.toml"
