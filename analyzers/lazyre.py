"""Regular expressions compiled when first used, for patterns most runs never need.

A module-level `re.compile` runs at import: ~0.05-0.2 ms for each of the rules' patterns, ~48
of them imported by every `check` (issue 14). Many are read only on a rare path (interpolated
SQL, `ALTER TABLE` migrations, CI workflow files, loose SQL literals), so a project without
that code paid for them anyway. `later(pattern, flags)` gives a function returning the compiled
pattern: compiled on the first call, the same object afterwards (the same `re.compile`, so the
same matches). Patterns every run uses stay compiled at import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import AnyStr


def later(pattern: AnyStr, flags: int | re.RegexFlag = 0) -> Callable[[], re.Pattern[AnyStr]]:
    """`re.compile(pattern, flags)` on the first call of the returned function."""

    @cache
    def compiled() -> re.Pattern[AnyStr]:
        return re.compile(pattern, flags)

    return compiled
