"""`analyzers.records.frozen` against `dataclass(frozen=True)`: the same class but for the
runtime guard against assignment (issue 14: two fewer generated methods per class at import).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import durable_harden
from durable_harden.analyzers.records import frozen


def _twins(**options: Any) -> tuple[type, type]:
    """The same class body made by `@dataclass(frozen=True, …)` and by `@frozen(…)`."""

    def body(name: str) -> type:
        namespace: dict[str, Any] = {
            "__module__": __name__,
            "__qualname__": name,
            "__annotations__": {"a": "int", "b": "str", "c": "tuple[int, ...]", "d": "list[int]"},
            "b": "x",
            "c": (),
            "d": field(default_factory=list, compare=False, hash=False, repr=False),
            "total": lambda self: self.a + len(self.c),
        }
        return type(name, (), namespace)

    plain = dataclass(frozen=True, **options)(body("Twin"))
    cheap = frozen(**options)(body("Twin"))
    return plain, cheap


def _same_shape(plain: type, cheap: type) -> None:
    assert [
        (f.name, f.default, f.compare, f.hash, f.repr, f.init) for f in dataclasses.fields(plain)
    ] == [(f.name, f.default, f.compare, f.hash, f.repr, f.init) for f in dataclasses.fields(cheap)]
    assert plain.__match_args__ == cheap.__match_args__


@pytest.mark.parametrize("eq", [True, False])
def test_frozen_behaves_as_a_frozen_dataclass(eq: bool) -> None:
    plain, cheap = _twins(eq=eq)
    _same_shape(plain, cheap)
    values = [(1, "x", (2, 3), [4]), (1, "x", (2, 3), [5]), (2, "y", (), [])]
    ps = [plain(*v) for v in values]
    cs = [cheap(*v) for v in values]
    again_p = [plain(*v) for v in values]
    again_c = [cheap(*v) for v in values]
    for i in range(len(values)):
        assert repr(ps[i]) == repr(cs[i])
        assert ps[i].total() == cs[i].total()
        for j in range(len(values)):
            assert (ps[i] == again_p[j]) == (cs[i] == again_c[j])
            assert (ps[i] != again_p[j]) == (cs[i] != again_c[j])
            if eq:
                assert (hash(ps[i]) == hash(again_p[j])) == (hash(cs[i]) == hash(again_c[j]))
        if eq:  # the generated hash: the compared fields' tuple, as a frozen dataclass's
            assert hash(cs[i]) == hash((values[i][0], values[i][1], values[i][2]))
            assert hash(ps[i]) == hash(cs[i])
        else:  # identity, as a frozen dataclass without eq
            assert cs[i] != again_c[i] and hash(cs[i]) == object.__hash__(cs[i])
        assert (ps[i] == 1) == (cs[i] == 1) is False
        assert dataclasses.asdict(ps[i]) == dataclasses.asdict(cs[i])
        assert dataclasses.astuple(ps[i]) == dataclasses.astuple(cs[i])
        changed = dataclasses.replace(cs[i], a=9)
        assert type(changed) is cheap and changed.a == 9 and changed.b == cs[i].b
        assert repr(dataclasses.replace(ps[i], a=9)) == repr(changed)
        for made in (copy.copy(cs[i]), copy.deepcopy(cs[i])):
            assert repr(made) == repr(cs[i]) and (made == cs[i]) == eq
    assert len(set(cs)) == len(set(ps))
    assert cheap.__dataclass_params__.eq == eq and plain.__dataclass_params__.eq == eq


# module-level twins for pickling (pickle finds a class by its qualified name)
@frozen
class PickledCheap:
    a: int
    b: tuple[str, ...] = ()


@dataclass(frozen=True)
class PickledPlain:
    a: int
    b: tuple[str, ...] = ()


def test_frozen_pickles_as_a_frozen_dataclass() -> None:
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        cheap = pickle.loads(pickle.dumps(PickledCheap(1, ("x",)), protocol))
        plain = pickle.loads(pickle.dumps(PickledPlain(1, ("x",)), protocol))
        assert cheap == PickledCheap(1, ("x",)) and hash(cheap) == hash(plain)
        assert vars(cheap) == vars(plain)


def test_frozen_refuses_what_it_would_change() -> None:
    with pytest.raises(TypeError, match="own __hash__"):

        @frozen
        class OwnHash:
            a: int

            def __hash__(self) -> int:
                return 1

    @dataclass
    class Base:
        a: int

    with pytest.raises(TypeError, match="dataclass base"):

        @frozen
        class Child(Base):
            b: int


def _package_classes() -> list[type]:
    for info in pkgutil.walk_packages(durable_harden.__path__, "durable_harden."):
        if ".lsp" in info.name or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("durable_harden."):
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and value.__module__ == name
                and dataclasses.is_dataclass(value)
            ):
                found.append(value)
    return found


def test_every_frozen_class_of_the_package_hashes_as_a_frozen_one() -> None:
    """A `@frozen` class is a dataclass with eq and hash as a frozen one has them: with eq, the
    generated field hash (never `None`, which a plain eq dataclass gets); without, identity."""
    made = [c for c in _package_classes() if c.__dataclass_params__.unsafe_hash]
    assert len(made) >= 20  # spans, fix specs and edits, statement parts, rule docs
    for cls in made:
        params = cls.__dataclass_params__
        assert params.eq and not params.frozen and not params.order, cls
        assert cls.__hash__ is not None and cls.__hash__ is not object.__hash__, cls
        assert cls.__hash__.__code__.co_filename == "<string>", cls  # generated, not inherited
        assert not any(dataclasses.is_dataclass(base) for base in cls.__mro__[1:]), cls


def test_later_compiles_once_on_first_use() -> None:
    import re

    from durable_harden.analyzers.lazyre import later
    from durable_harden.analyzers.rules import rollout_unsafe, sql_interpolation

    pattern = later(r"\bINTO\s+(\w+)", re.I)
    assert pattern.cache_info().currsize == 0  # type: ignore[attr-defined]
    first = pattern()
    assert first is pattern() and first == re.compile(r"\bINTO\s+(\w+)", re.I)
    assert first.search("insert into t").group(1) == "t"  # type: ignore[union-attr]
    data = later(rb"uses:\s*(\S+)")
    assert data().search(b"uses: x").group(1) == b"x"  # type: ignore[union-attr]
    # the rules' deferred patterns match as their eager versions did
    assert rollout_unsafe.UUID().fullmatch("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert not rollout_unsafe.UUID().fullmatch("latest")
    assert sql_interpolation._CONSTANT().match("this.TABLE_NAME")


def _rule_states() -> list[type]:
    from durable_harden.analyzers.rules import all_rules

    all_rules()
    return [
        value
        for name, module in list(sys.modules.items())
        if name.startswith("durable_harden.analyzers.rules.")
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == name
        and value.__name__.endswith("State")
        and dataclasses.is_dataclass(value)
    ]


def test_detection_states_are_never_compared_nor_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules' detection states (`Finding.state`) are `@frozen(eq=False)`: identity equality,
    as nothing compares or hashes them. Shown here: with `==` and `hash` raising on every state
    class, a check of the examples and a generated monorepo, building every finding's fixes
    (JSON report) and the text report's markers, gives the same reports."""
    from durable_harden.server.cli import main
    from tests.conftest import EXAMPLES, generate_monorepo

    states = _rule_states()
    assert len(states) >= 29
    for cls in states:  # identity, as a frozen dataclass with eq=False
        assert cls.__eq__ is object.__eq__ and cls.__hash__ is object.__hash__, cls
    mono = tmp_path / "mono"
    generate_monorepo(mono, 60)

    def reports(capsys_out: Path) -> list[str]:
        texts = []
        for root in (EXAMPLES, mono):
            for fmt in ("json", "text"):
                out = capsys_out / f"{root.name}.{fmt}"
                main(
                    [
                        "check",
                        "--no-cache",
                        "--output-format",
                        fmt,
                        "--output-file",
                        str(out),
                        str(root),
                    ]
                )
                texts.append(out.read_text())
        return texts

    (tmp_path / "plain").mkdir()
    (tmp_path / "guarded").mkdir()
    plain = reports(tmp_path / "plain")

    def refuse(*args: object) -> bool:
        raise AssertionError("a detection state was compared or hashed")

    for cls in states:
        monkeypatch.setattr(cls, "__eq__", refuse)
        monkeypatch.setattr(cls, "__hash__", refuse)
    guarded = reports(tmp_path / "guarded")
    assert guarded == plain
    assert any('"fix"' in text or '"fixes"' in text for text in plain)  # fixes were built
