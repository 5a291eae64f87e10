"""Real typing (character by character, brackets and quotes closed ahead of the cursor as an
editor does) at the places where the members of a class change shape: a new method typed on a
blank line between two members passes through a field (`  he`), a signature that takes the
next member in (`  helper():` followed by a method is one method with an error) and a body.

After every keystroke the engine's findings equal a fresh analysis, and the model spliced from
the previous version equals a whole-file extraction of the same tree (tests/test_speed_splice.py
`Editor`). The keystrokes whose members next to the edit changed are spliced (the region takes
them in: analyzers/splice.py `_unchanged_sides`), and typing a method that hands no parameter
to exec() keeps the file's wrapper summary spliced (`splice.wrappers`). No timing is asserted
(bench/keystroke_inprocess.py --typing measures)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from durable_harden.analyzers import model as model_module
from durable_harden.analyzers.sqlwrappers import summarize
from tests.test_speed_incremental import MEMBERS_FILE, Session, _members_project
from tests.test_speed_splice import Editor

ROOT = Path(__file__).resolve().parent.parent

sys.path.insert(0, str(ROOT / "bench"))
try:
    from typing_edits import keystrokes
finally:
    sys.path.remove(str(ROOT / "bench"))

# (where: the text typed before, what is typed) in MEMBERS_FILE
TYPED = [
    # a method on the blank line before `list(owner`, with SQL and a cast typed last
    (
        "\n  list(owner: string)",
        '\n  helper(): number {\n    return this.ctx.storage.sql.exec("SELECT id FROM items'
        ' WHERE owner = ?", "x").one().id as number;\n  }\n',
    ),
    # a field, then a method right after the constructor (the member before the edit is the
    # constructor, which must not change)
    ("\n\n  async alarm()", "\n  counter = 0;\n  bump(): void { this.counter += 1; }"),
    # at the very end of a member (typing after its `}`), then a new member on the same line
    ("\n\n  tune(): void", " extra(): void {}"),
]


def _typing(text: str, where: str, typed: str) -> list[str]:
    at = text.index(where)
    versions = []
    for offset, inserted in keystrokes(typed):
        place = at + offset
        text = text[:place] + inserted + text[place:]
        versions.append(text)
    return versions


@pytest.mark.parametrize("case", range(len(TYPED)))
def test_typing_matches_a_fresh_analysis(tmp_path: Path, case: int) -> None:
    where, typed = TYPED[case]
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    versions = _typing(MEMBERS_FILE, where, typed)
    spliced = 0
    for number, text in enumerate(versions):
        s.write(target, text.encode())
        s.compare(f"keystroke {number}: {text[text.index(where[:8]) :][:60]!r}")
        edited = s.engine.open_parsed[target.resolve()]
        spliced += edited.memo.get("splice") is not None
    # without the region taking in the members next to the edit, typing a name at the end of
    # a field or member is never spliced ("the member before the edit changed")
    assert spliced >= len(versions) * 0.8, (spliced, len(versions))


def test_typed_members_spliced_and_equal_to_a_whole_extraction(tmp_path: Path) -> None:
    root, target = _members_project(tmp_path)
    editor = Editor(root, target)
    reasons: list[str] = []
    total = 0
    for where, typed in TYPED:
        versions = _typing(MEMBERS_FILE, where, typed)
        for number, text in enumerate(versions):
            new = editor.edit(text.encode(), f"{where!r} keystroke {number}")
            reasons += [str(new.memo["no_splice"])] if new.memo.get("splice") is None else []
        total += len(versions)
        editor.edit(MEMBERS_FILE.encode(), f"{where!r} undone")
    # the few left: a half-typed field that breaks the class (`counter =` before `async
    # alarm()`) and the keystroke that mends it, a cast half typed (other facts)
    assert len(reasons) <= total * 0.1, reasons


def test_a_typed_method_keeps_the_wrapper_summary_spliced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A method with no parameter reaching exec() typed between two members: the file's
    wrapper summary is the previous one with the method's calls and function added (not the
    whole file summarized again), and equals a whole-file summary of the same tree."""
    root, target = _members_project(tmp_path)
    s = Session(root, [target])
    s.compare("opening")
    whole: list[Any] = []
    real = model_module.summarize_wrappers

    def counted(*args: Any) -> Any:
        whole.append(args[0])
        return real(*args)

    monkeypatch.setattr(model_module, "summarize_wrappers", counted)
    where, typed = TYPED[0]
    versions = _typing(MEMBERS_FILE, where, typed)
    s.write(target, versions[0].encode())
    s.compare("first keystroke")  # its predecessor had no full summary (no wrapper anywhere)
    whole.clear()
    checked = 0
    for number, text in enumerate(versions[1:], 1):
        s.write(target, text.encode())
        whole.clear()
        s.compare(f"keystroke {number}")
        new = s.engine.open_parsed[target.resolve()]
        sp = new.memo.get("splice")
        if sp is None:
            continue  # the whole file read again (a half-typed cast states other facts)
        if any(f.path == target for f in whole):
            # only while the half-typed method takes the next one in (`helper():` followed by
            # `list(owner…)` is one method), or splits from it: the region then holds that
            # method's sink (its parameter reaches exec()), under another function's name
            assert any(
                b"list(owner" in new.data[m.start_byte : m.end_byte] for m in sp.members_new
            ) or any(
                b"list(owner" in sp.old.data[m.start_byte : m.end_byte] for m in sp.members_old
            ), number
            continue
        entries = new.memo.get("model:sql_wrappers")
        if not entries:
            continue
        got = next(reversed(entries.values()))
        classes = [c for c in s.engine.models[root].classes if c.file is new]
        want = summarize(new, classes, model_module._state_params(new))
        assert (got.sinks, got.functions, got.bases, got.imports, got.calls) == (
            want.sinks,
            want.functions,
            want.bases,
            want.imports,
            want.calls,
        ), number
        checked += 1
    assert checked >= len(versions) // 2
