"""Work done progress for long commands (harden all): on the client's own `workDoneToken` when
the request carried one, else server-initiated (`window/workDoneProgress/create`) when the client
supports it; cancellable (`window/workDoneProgress/cancel`); every report carries a `percentage`
that never goes down."""

from __future__ import annotations

import contextlib
import uuid
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

if TYPE_CHECKING:
    from durable_harden.server.lsp.core import DurableHardenServer


class Progress:
    """Work done progress, cancellable: on the client's `workDoneToken` when the request
    carried one, else server-initiated (when the client supports it). Each report carries a
    `percentage` that never goes down."""

    def __init__(self, ls: DurableHardenServer, client_token: Any = None) -> None:
        self.ls = ls
        self.client_token = client_token
        self.token: Any = None
        self.future: Future[Any] | None = None
        self.percentage = 0

    async def begin(self, title: str) -> None:
        token = self.client_token
        if token is None:
            if not self.ls.caps.work_done_progress:
                return
            token = f"durable-harden-harden-{uuid.uuid4().hex[:12]}"
            try:
                await self.ls.work_done_progress.create_async(token)
            except Exception:
                return
        self.token = token
        self.ls.work_done_progress.begin(
            token,
            lsp.WorkDoneProgressBegin(
                title=title, cancellable=True, message="planning", percentage=0
            ),
        )
        self.future = self.ls.work_done_progress.tokens.get(token)

    def cancelled(self) -> bool:
        return self.future is not None and self.future.cancelled()

    def report(self, message: str, percentage: int | None = None) -> None:
        if percentage is not None:
            self.percentage = max(self.percentage, min(100, percentage))
        if self.token is not None:
            with contextlib.suppress(Exception):
                self.ls.work_done_progress.report(
                    self.token,
                    lsp.WorkDoneProgressReport(message=message, percentage=self.percentage),
                )

    def end(self, message: str) -> None:
        if self.token is not None:
            token, self.token = self.token, None
            with contextlib.suppress(Exception):
                self.ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(token, None)


def planner_percentage(message: str) -> int | None:
    """The planner's step messages ("round N: ...", "generated tests ...") as a percentage of
    the run: rounds take 5-80 (of at most MAX_ROUNDS), generated files 80, applying 90."""
    from durable_harden.codeactions.harden.plan import MAX_ROUNDS

    if message.startswith("round "):
        number = message[6:].split(":", 1)[0]
        if number.isdigit():
            return 5 + 75 * (int(number) - 1) // MAX_ROUNDS
    if message.startswith("generated"):
        return 80
    return None


__all__ = ["Progress", "planner_percentage"]
