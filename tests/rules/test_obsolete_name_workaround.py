"""obsolete-name-workaround: init()/setName(), identifier parameters and RpcTarget wrappers
that tell an object the name `this.ctx.id.name` already holds."""

from __future__ import annotations

from pathlib import Path

from tests.rules._config_support import fixture, flagged, marked, run, text_of

RULE = "obsolete-name-workaround"


def test_setter_identifier_parameters_and_wrapper_are_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    findings, _ = run(RULE, root)
    assert flagged(findings, root) == marked(root)
    kinds = {(f.data["class"], f.data["kind"], text_of(f)) for f in findings}
    assert kinds == {
        ("Profile", "setter", "setName"),  # reached via get(idFromName(userId))
        ("Feed", "parameter", "owner: string"),
        ("Cart", "wrapper", "CartSession"),
    }
    feed = [f for f in findings if f.data["class"] == "Feed"]
    assert sorted(f.data["method"] for f in feed) == ["latest", "post"]
    assert all(f.data["index"] == 0 for f in feed)


def test_nothing_reported_when_some_caller_uses_new_unique_id(tmp_path: Path) -> None:
    # Profile.init is called with the name, but one caller reaches Profile via newUniqueId():
    # there ctx.id.name is undefined, so the init() is still needed. Feed.remember stores its
    # argument, but is not named like a setter and never receives the object's name.
    root = fixture(RULE, "mixed-callers", tmp_path)
    findings, _ = run(RULE, root)
    assert findings == []


def test_init_with_a_different_value_and_no_setter_name_is_not_reported(tmp_path: Path) -> None:
    root = fixture(RULE, "flagged", tmp_path)
    index = root / "src" / "index.ts"
    # the feed calls now pass something other than the name the id came from
    index.write_text(
        index.read_text()
        .replace("await feed.post(userId,", "await feed.post(url.hostname,")
        .replace(".latest(userId, 20)", ".latest(url.hostname, 20)")
    )
    findings, _ = run(RULE, root)
    assert "Feed" not in {f.data["class"] for f in findings}


def test_examples_session_store_init_is_reported() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "rate-limiter"
    findings, _ = run(RULE, examples)
    assert [(f.data["class"], f.data["kind"], text_of(f)) for f in findings] == [
        ("SessionStore", "setter", "init")
    ]
