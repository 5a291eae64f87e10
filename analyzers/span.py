"""Where something is: a byte range in one file, and a message tied to one.

A leaf module (imports nothing of the project), so the model's modules (sql, wrangler) and the
findings can all use it without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from durable_harden.analyzers.records import frozen


@frozen
class Span:
    """A byte range in one file."""

    path: Path
    start: int
    end: int


@frozen
class Related:
    span: Span
    message: str
