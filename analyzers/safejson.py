"""JSON from the user's files, read without running out of stack: the standard library's and
json5's parsers recurse once per nesting level, so `[[[[…]]]]` a thousand deep raised
RecursionError (a traceback, or an internal error of a rule). Here that is a ValueError, the
error every caller already handles as "not JSON we can read"."""

from __future__ import annotations

import json
from typing import Any

TOO_DEEP = "nested too deeply to read"


def loads(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None


def loads5(text: str) -> Any:
    """JSON5/JSONC (comments, trailing commas)."""
    import json5  # (here: most runs read no JSON5, and its import is ~1.5 ms)

    try:
        return json5.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
