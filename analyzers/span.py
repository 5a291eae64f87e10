"""Where something is: a byte range in one file, and a message tied to one.

A leaf module (imports nothing of the project), so the model's modules (sql, wrangler) and the
findings can all use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """A byte range in one file."""

    path: Path
    start: int
    end: int


@dataclass(frozen=True)
class Related:
    span: Span
    message: str
