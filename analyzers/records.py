"""`@frozen`: a dataclass the type checker treats as frozen, made without Python's runtime guard.

`@dataclass(frozen=True)` costs at import: on Python 3.11 and 3.12 every method a dataclass
generates is compiled from its own source text (an `exec` each), and a frozen class has two more
than a plain hashable one (`__setattr__` and `__delattr__`, which raise `FrozenInstanceError`):
~0.27 ms against ~0.16 ms per class, ~55 classes imported by every `check` (issue 14). Its
`__init__` also stores each field through `object.__setattr__`, slower than a plain store, on
classes made by the thousand (spans, statement parts).

`@frozen` makes the same class as `@dataclass(frozen=True)` in everything but that guard:
the same `__init__`, `__repr__`, `__eq__` and field-based `__hash__` (`unsafe_hash=True`
generates exactly the hash a frozen class gets; `eq=False` leaves identity, as a frozen class
with `eq=False` has), `dataclasses.fields` / `replace` / `asdict`, pickling and copying.
What enforces immutability is mypy (`dataclass_transform(frozen_default=True)`: assigning to
a field of such an object is a type error, as for a frozen dataclass), which checks
`analyzers/` and `codeactions/`; nothing in the tool assigns to one, and no code relies on the
`FrozenInstanceError` an assignment would raise. Not for a class that defines its own
`__hash__` or inherits from a dataclass (a frozen class's rules for those differ; none do).
Python 3.13 compiles a dataclass's methods in one `exec`; the saving there is smaller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")


@overload
def frozen(cls: type[_T], /) -> type[_T]: ...


@overload
def frozen(*, eq: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: Any = None, /, *, eq: bool = True) -> Any:
    """`@frozen` or `@frozen(eq=False)`: see the module's docstring."""

    def make(target: Any) -> Any:
        if target.__dict__.get("__hash__") is not None:
            raise TypeError(f"{target.__qualname__}: @frozen does not take a class's own __hash__")
        if any(dataclasses.is_dataclass(base) for base in target.__mro__[1:]):
            raise TypeError(f"{target.__qualname__}: @frozen does not take a dataclass base")
        return dataclasses.dataclass(eq=eq, unsafe_hash=eq)(target)

    return make if cls is None else make(cls)
