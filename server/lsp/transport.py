"""JSON-RPC over stdio, hardened against bad input (pygls 2.1's reader loop and protocol).

- A message whose `Content-Length` is over `MAX_MESSAGE_BYTES` is not read into memory (pygls
  would call `stdin.read(n)` with the client's n: `Content-Length: 99999999999` is a MemoryError
  that ends the server). The server says so (`window/showMessage` + log), skips the body up to
  the next `Content-Length:` header and keeps serving; that message gets no reply (its id was
  never read).
- Futures of notifications are forgotten once done (pygls kept every one: memory grew with
  each keystroke).
- A request whose params do not fit its method's type (e.g. `textDocument/hover` with
  `params: null`) is answered with InvalidParams (-32602); pygls raised inside its JSON decoder
  and sent nothing, so the client waited forever. A notification with bad params is logged. A
  client's response of the wrong shape reaches the waiting feature untyped (it used to be
  dropped, and the feature waited forever).

pygls reads headers with `readline()` and bodies with `readexactly(n)` from the reader it is
given (pygls/io_.py `run_async`); `BoundedReader` is such a reader. Private pygls names used
here (`_stop_event`, `_send_response`, `_execute_handler`, `_request_futures`, the builtin
`lsp_*` methods) hold for pygls 2.1 (pyproject.toml allows <3); tests/lsp/test_protocol.py fails
when a pygls release changes them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCResponseMessage
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# far above any source file the server analyses (2 MB by default) or any sane message
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_LINE = 8192
HEADER = b"Content-Length:"
# pygls's own pattern (pygls/io_.py `run_async`): the header it takes a message's length from
CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")
# what the reader hands pygls instead of an oversized body: a notification nobody handles
SKIPPED_BODY = b'{"jsonrpc": "2.0", "method": "$/durable-harden/skipped"}'
SKIPPED_METHOD = "$/durable-harden/skipped"

log = logging.getLogger(__name__)


class BoundedReader:
    """stdin for pygls's reader loop, with a bound on the size of one message."""

    def __init__(
        self,
        stdin: BinaryIO,
        executor: ThreadPoolExecutor,
        on_oversized: Callable[[int], None],
        limit: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.stdin = stdin
        self.executor = executor
        self.on_oversized = on_oversized
        self.limit = limit
        self.resync = False
        # the rest of a message read ahead with its Content-Length header (its other header
        # lines, the blank line, the body), handed to pygls's loop without a thread each
        self.ahead: deque[bytes] = deque()

    def _read_message(self) -> bytes:
        """A header line; when it is the Content-Length of a message within the limit, the
        rest of the message too (kept in `ahead`): one hand-over to the reading thread per
        message instead of three (~0.1 ms of a keystroke). The lines and the body are what
        pygls's loop would read itself, in the same order."""
        line = self._readline()
        match = CONTENT_LENGTH.fullmatch(line)
        if match is None or int(match.group(1)) > self.limit:
            return line
        while True:
            header = self.stdin.readline(MAX_HEADER_LINE)
            self.ahead.append(header)
            if not header:
                return line  # the end of the input: pygls stops at the empty read
            if not header.strip():
                break
        self.ahead.append(self.stdin.read(int(match.group(1))))
        return line

    def _readline(self) -> bytes:
        if not self.resync:
            return self.stdin.readline(MAX_HEADER_LINE)
        # skipping an oversized body: drop everything up to the next header (a body has no
        # newline of its own, so the next header ends the line that holds the body's tail)
        while True:
            line = self.stdin.readline(MAX_HEADER_LINE)
            if not line:
                return b""
            at = line.rfind(HEADER)
            if at >= 0 and line.endswith(b"\r\n"):
                self.resync = False
                return line[at:]

    async def readline(self) -> bytes:
        if self.ahead:
            return self.ahead.popleft()
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._read_message)

    async def readexactly(self, n: int) -> bytes:
        if self.ahead:
            return self.ahead.popleft()  # the body of the header read ahead (its length n)
        if n > self.limit:
            self.resync = True
            self.on_oversized(n)
            return SKIPPED_BODY
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.stdin.read, n)


class _Answered:
    """A request already answered with an error while it was decoded: nothing more to do."""

    jsonrpc = "2.0"


class Protocol(LanguageServerProtocol):
    """pygls's protocol, with bad messages answered (see the module docstring) and no text of
    its own: pygls's builtin didOpen/didChange/didClose would keep a second copy of every open
    document with `str.splitlines` line semantics (wrong for U+2028, FF, ...). The server's
    documents feature (server/lsp/documents.py) keeps the only copy.

    `workspace/executeCommand` also notes the request's `workDoneToken` (pygls passes only the
    arguments to a command): `work_done_tokens[request id]`, taken by the command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.work_done_tokens: dict[Any, Any] = {}
        super().__init__(*args, **kwargs)

    @lsp_method(lsp.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: lsp.ExecuteCommandParams) -> Any:
        if params.work_done_token is not None and self.msg_id is not None:
            self.work_done_tokens[self.msg_id] = params.work_done_token
            while len(self.work_done_tokens) > 64:  # never taken (a command that failed early)
                self.work_done_tokens.pop(next(iter(self.work_done_tokens)))
        return (yield from super().lsp_workspace__execute_command(params))

    @lsp_method(lsp.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: lsp.DidOpenTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except (JsonRpcInvalidParams, JsonRpcInternalError) as exc:
            method = data.get("method")
            if "id" in data and method is None and "result" in data:
                # the client's answer to one of our requests, of the wrong shape: hand it over
                # untyped (the awaiting feature fails with a clear error) rather than never
                log.warning("the client's response %s does not fit its request", data["id"])
                return self._converter.structure(data, JsonRPCResponseMessage)
            if "id" in data and isinstance(method, str):
                cause = exc.__cause__
                detail = str(cause).splitlines()[0] if cause is not None else ""
                error = JsonRpcInvalidParams(
                    f"invalid params for {method}{': ' + detail if detail else ''}"
                )
                self._send_response(data["id"], None, error.to_response_error())
                log.warning("answered %s with InvalidParams: %s", method, detail)
                return _Answered()
            log.warning("ignored %r: its params do not fit the method", method)
            return _Answered()

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        """pygls files the future of every generator or coroutine handler under `msg_id` in
        `_request_futures` and only a request's reply takes it out: each notification (every
        didChange: its builtin is a generator) left a future, its generator and its params
        behind (~7 KB per keystroke, forever). Each future now leaves when it is done."""
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def remove(done: Any, key: Any) -> None:
            if self._request_futures.get(key) is done:
                del self._request_futures[key]

        def forget(done: Any, key: Any = msg_id) -> None:
            # later, on the loop: a future cancelled by pygls's `shutdown` calls this while
            # pygls iterates over `_request_futures` (a concurrent Future runs its callbacks
            # at once), and the dict must not change under it
            loop.call_soon_threadsafe(remove, done, key)

        future.add_done_callback(forget)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        if getattr(message, "method", None) == SKIPPED_METHOD:
            return
        super().handle_message(message)


def start_io(server: LanguageServer, stdin: BinaryIO | None = None) -> None:
    """pygls's `start_io`, with `BoundedReader` instead of its unbounded stdin reader."""

    def oversized(n: int) -> None:
        text = (
            f"durable-harden: ignored a message of {n} bytes (over the "
            f"{MAX_MESSAGE_BYTES // (1024 * 1024)} MiB limit); it gets no reply. "
            "The server keeps running."
        )
        log.error(text)
        try:
            server.window_show_message(
                lsp.ShowMessageParams(type=lsp.MessageType.Error, message=text)
            )
        except Exception:
            log.debug("could not show the message", exc_info=True)

    server._stop_event = threading.Event()
    reader = BoundedReader(stdin or sys.stdin.buffer, server.thread_pool, oversized)
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    try:
        asyncio.run(
            run_async(
                stop_event=server._stop_event,
                reader=reader,
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        )
    except BrokenPipeError:
        log.error("the connection to the client is lost: stopping")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


__all__ = ["MAX_MESSAGE_BYTES", "BoundedReader", "Protocol", "start_io"]
