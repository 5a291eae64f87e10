"""A small JSON-RPC client for the real server over stdio, byte-level: it can send what no
well-behaved client library sends (oversized Content-Length, params of the wrong type, exit
without shutdown, lone surrogates, any line break character) and it models the client's copy of
each document the way an editor does (protocol line semantics, UTF-16 positions)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BREAK = re.compile(r"\r\n|\r|\n")


def frame(obj: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as VS Code sends them
    body = json.dumps(obj, ensure_ascii=True).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RpcServer:
    def __init__(
        self,
        root: Path | None = None,
        encoding: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "durable_harden", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(root or ROOT),
            env=env,
        )
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.responses: dict[Any, dict[str, Any]] = {}
        self.next_id = 0
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.encoding = encoding
        # results for the server's requests, by method (else the defaults in `pump`)
        self.answers: dict[str, Any] = {}

    # -- transport -----------------------------------------------------------------------------
    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.inbox.put(None)
                    return
                if line.startswith(b"Content-Length:"):
                    length = int(line.split(b":", 1)[1])
                if line in (b"\r\n", b"\n"):
                    break
            body = out.read(length or 0)
            message = json.loads(body)
            self.inbox.put(message)

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, obj: Any) -> None:
        self.send_raw(frame(obj))

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request_async(self, method: str, params: Any) -> int:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def pump(self, timeout: float) -> bool:
        """Handle one incoming message (answering the server's requests); False on timeout."""
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return False
        if message is None:
            raise ConnectionError("the server closed its output")
        if "method" in message and "id" in message:  # a request from the server
            result: Any = None
            if message["method"] in self.answers:
                result = self.answers[message["method"]]
                if callable(result):  # an answer computed from the request's params
                    result = result(message["params"])
            elif message["method"] == "workspace/configuration":
                result = [None for _ in message["params"]["items"]]
            elif message["method"] == "workspace/applyEdit":
                result = {"applied": False, "failureReason": "the fuzz client applies nothing"}
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif "method" in message:
            self.notifications.append(message)
        else:
            self.responses[message["id"]] = message
        return True

    def wait_response(self, msg_id: int, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while msg_id not in self.responses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to request {msg_id}")
            self.pump(left)
        return self.responses.pop(msg_id)

    def request(self, method: str, params: Any, timeout: float = 60.0) -> dict[str, Any]:
        return self.wait_response(self.request_async(method, params), timeout)

    def drain(self, seconds: float = 0.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if not self.pump(max(left, 0.001)) and left <= 0:
                return

    # -- session -------------------------------------------------------------------------------
    def initialize(self, root: Path, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        caps = capabilities if capabilities is not None else {}
        if self.encoding is not None:
            caps = {**caps, "general": {"positionEncodings": [self.encoding]}}
        answer = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": caps,
                "initializationOptions": {"debounceMs": 10},
            },
        )
        self.notify("initialized", {})
        return answer

    def shutdown(self, timeout: float = 30) -> int:
        self.request("shutdown", None)
        self.notify("exit", None)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def messages(self, method: str) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["method"] == method]


# -- the client's copy of a document (what an editor does) ---------------------------------------
def line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in BREAK.finditer(text))]


CODECS = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2), "utf-32": ("utf-32-le", 4)}


def units(text: str, encoding: str = "utf-16") -> int:
    """The length of `text` in the encoding's code units."""
    codec, width = CODECS[encoding]
    return len(text.encode(codec, errors="surrogatepass")) // width


def utf16_units(text: str) -> int:
    return units(text, "utf-16")


def canonical(text: str) -> str:
    """A text as a UTF-16 editor holds it: a high surrogate followed by a low one is one
    character (Python keeps "\\ud800" + "\\udc00" as two; JSON and JavaScript join them)."""
    return text.encode("utf-16-le", errors="surrogatepass").decode("utf-16-le", "surrogatepass")


def client_apply(
    text: str, start: tuple[int, int], end: tuple[int, int], new: str, encoding: str = "utf-16"
) -> str:
    """Apply an edit the way an editor's model does: positions in `encoding` units, lines
    broken by \\n \\r\\n \\r only, a position past a line's end clamped to it, past the last
    line to the end of the text. UTF-16 may split a surrogate pair (as JavaScript strings do);
    a UTF-8 position inside a character means that character's start (the server's rule for
    what would otherwise be invalid text)."""
    codec, width = CODECS[encoding]
    data = text.encode(codec, errors="surrogatepass")

    def offset(line: int, char: int) -> int:
        starts = line_starts(text)
        if line >= len(starts):
            return len(data) // width
        begin = starts[line]
        stop = len(text)
        if line + 1 < len(starts):
            stop = starts[line + 1]
            stop -= 2 if text[begin:stop].endswith("\r\n") else 1
        return units(text[:begin], encoding) + max(0, min(char, units(text[begin:stop], encoding)))

    a, b = sorted((offset(*start) * width, offset(*end) * width))
    if width == 1:
        while 0 < a < len(data) and data[a] & 0xC0 == 0x80:
            a -= 1
        while 0 < b < len(data) and data[b] & 0xC0 == 0x80:
            b -= 1
    joined = data[:a] + new.encode(codec, errors="surrogatepass") + data[b:]
    return joined.decode(codec, errors="surrogatepass")


def position_at(text: str, index: int, encoding: str = "utf-16") -> tuple[int, int]:
    """The (line, character in `encoding` units) of a code point index."""
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= index)
    return line, units(text[starts[line] : index], encoding)
