"""Benchmark: the language server's latency per keystroke on a ~100-file project.

Starts the real server (`durable-harden serve`, stdio) as a subprocess and talks raw JSON-RPC to
it, opens one file of a generated one-Worker project, then sends single-character didChange edits
one at a time and measures, for each, the time from sending the didChange to receiving the
publishDiagnostics for that document version. Prints the median and p90 (and the server
process's CPU time per edit, on Linux, which a busy machine disturbs less) next to baselines
measured in the same run: a full tree-sitter parse of the edited file, one analysis of the whole
project in-process (what the server did per keystroke before its caches) and the full CLI check
of the corpus. Not a test: no timing is asserted.

    python bench/bench_lsp.py [--copies 10] [--edits 40] [--debounce-ms 0]

The corpus is ONE wrangler project (one config at the top binding every class) made of the
example projects copied `--copies` times into src/<example>-<n>/ with class and binding names
made distinct, committed to a fresh git repository (rules compare with git HEAD), so every
keystroke re-analyses all of it: the worst case for the server. With the default debounce of
0 ms the figure is the server's own latency; an editor adds its configured debounce on top.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tree_sitter import Parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from durable_harden.analyzers.analysis import Settings, analyze_paths  # noqa: E402
from durable_harden.analyzers.source import language  # noqa: E402
from durable_harden.analyzers.workspace import discover  # noqa: E402

# the names a copy must not share with another copy: classes and their bindings
CLASSES = ("ChatRoom", "RateLimiter", "SessionStore", "AuditLog", "ExportJob")
BINDINGS = {
    "ChatRoom": "CHAT_ROOM",
    "RateLimiter": "RATE_LIMITER",
    "SessionStore": "SESSIONS",
    "AuditLog": "AUDIT_LOG",
    "ExportJob": "EXPORT_JOBS",
}
NAME = re.compile(r"\b(" + "|".join([*CLASSES, *BINDINGS.values()]) + r")\b")


def make_project(target: Path, copies: int) -> Path:
    """One Worker: src/<example>-<n>/… for every copy, a main module re-exporting every class."""
    exports: list[str] = []
    bindings: list[dict[str, str]] = []
    for index in range(copies):
        for example in sorted((ROOT / "examples").iterdir()):
            src = example / "src"
            if not src.is_dir():
                continue
            folder = target / "src" / f"{example.name}-{index}"
            folder.mkdir(parents=True)
            for file in sorted(src.glob("*.ts")):
                text = NAME.sub(lambda m, i=index: f"{m.group(1)}{i}", file.read_text())
                (folder / file.name).write_text(text)
                for cls in CLASSES:
                    if re.search(rf"export class {cls}{index}\b", text):
                        exports.append(
                            f'export {{ {cls}{index} }} from "./{folder.name}/{file.stem}";'
                        )
                        bindings.append(
                            {"name": f"{BINDINGS[cls]}{index}", "class_name": f"{cls}{index}"}
                        )
    (target / "src" / "main.ts").write_text("\n".join(exports) + "\n")
    config = {
        "name": "big-worker",
        "main": "src/main.ts",
        "compatibility_date": "2026-03-01",
        "durable_objects": {"bindings": bindings},
        "migrations": [
            {"tag": "v1", "new_sqlite_classes": [b["class_name"] for b in bindings]},
        ],
    }
    (target / "wrangler.jsonc").write_text(json.dumps(config, indent=2) + "\n")
    git = shutil.which("git")
    if git is not None:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
        }
        for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "corpus"]):
            subprocess.run([git, *cmd], cwd=target, env=env, check=True, capture_output=True)
    return target


class Client:
    """Just enough JSON-RPC over stdio to drive the server."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.next_id = 0
        self.responses: dict[int, Any] = {}
        self.diagnostics: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(out.read(length))
            now = time.perf_counter()
            if "method" in message and "id" in message:  # a request from the server
                self._send({"id": message["id"], "result": None})
            elif "method" in message:
                if message["method"] == "textDocument/publishDiagnostics":
                    self.diagnostics.put((now, message["params"]))
            else:
                with self.cond:
                    self.responses[message["id"]] = message
                    self.cond.notify_all()

    def request(self, method: str, params: Any, timeout: float = 120) -> Any:
        self.next_id += 1
        ident = self.next_id
        self._send({"id": ident, "method": method, "params": params})
        with self.cond:
            if not self.cond.wait_for(lambda: ident in self.responses, timeout):
                raise TimeoutError(method)
            return self.responses.pop(ident).get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def wait_diagnostics(self, uri: str, version: int, timeout: float = 120) -> tuple[float, int]:
        deadline = time.perf_counter() + timeout
        while True:
            at, params = self.diagnostics.get(timeout=max(0.01, deadline - time.perf_counter()))
            if params["uri"] == uri and params.get("version") == version:
                return at, len(params["diagnostics"])

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere). Less sensitive
    to a busy machine than wall-clock latency: compare runs by it when the load varies."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    corpus: Path, target: Path, edits: int, debounce_ms: int
) -> tuple[list[float], float | None]:
    """Latencies (s) from didChange to the publishDiagnostics of that version, and the server's
    CPU time per measured edit (s)."""
    serve = shutil.which("durable-harden")
    command = [serve, "serve"] if serve else [sys.executable, "-m", "durable_harden", "serve"]
    client = Client(command, corpus)
    try:
        client.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": corpus.as_uri(),
                "workspaceFolders": [{"uri": corpus.as_uri(), "name": corpus.name}],
                "capabilities": {"textDocument": {"publishDiagnostics": {}}},
                "initializationOptions": {"debounceMs": debounce_ms},
            },
        )
        client.notify("initialized", {})
        uri = target.as_uri()
        text = target.read_text()
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "typescript", "version": 1, "text": text}},
        )
        client.wait_diagnostics(uri, 1)
        # warm-up edit: the first analysis after opening may still pay for imports and caches
        lines = text.split("\n")
        row = next(i for i in range(len(lines) // 2, len(lines)) if lines[i].strip())
        latencies: list[float] = []
        cpu_start: float | None = None
        version = 1
        for number in range(edits + 2):
            version += 1
            inserting = number % 2 == 0
            col = len(lines[row])
            change = (
                {
                    "range": {
                        "start": {"line": row, "character": col},
                        "end": {"line": row, "character": col},
                    },
                    "text": " ",
                }
                if inserting
                else {
                    "range": {
                        "start": {"line": row, "character": col},
                        "end": {"line": row, "character": col + 1},
                    },
                    "text": "",
                }
            )
            if number == 2:
                cpu_start = cpu_seconds(client.proc.pid)
            sent = time.perf_counter()
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
            )
            received, _ = client.wait_diagnostics(uri, version)
            if number >= 2:
                latencies.append(received - sent)
        cpu_end = cpu_seconds(client.proc.pid)
        cpu = (
            (cpu_end - cpu_start) / len(latencies)
            if cpu_start is not None and cpu_end is not None and latencies
            else None
        )
        return latencies, cpu
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--debounce-ms", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = make_project(Path(tmp) / "big-worker", args.copies)
        files = discover([corpus]).sources
        data = [p.read_bytes() for p in files]
        target = corpus / "src" / "chat-room-0" / "chat-room.ts"
        content = target.read_bytes()
        ts_parser = Parser(language("typescript"))
        parse = timed(lambda: ts_parser.parse(content), 50)
        parse_all = timed(lambda: [ts_parser.parse(d) for d in data], args.repeat)
        check = timed(lambda: analyze_paths([corpus], Settings()), args.repeat)
        latencies, cpu = measure(corpus, target, args.edits, args.debounce_ms)
    median = statistics.median(latencies)
    p90 = percentile(latencies, 0.9)
    lines = sum(d.count(b"\n") for d in data)
    print(f"corpus: one project, {len(files)} files, {lines} lines; edited {target.name}")
    print(f"baseline  full tree-sitter parse of {target.name}  : {parse * 1e3:8.2f} ms")
    print(f"baseline  tree-sitter parse of every file       : {parse_all * 1e3:8.2f} ms")
    print(f"          in-process check of the whole project : {check * 1e3:8.2f} ms")
    print(
        f"LSP didChange -> publishDiagnostics ({len(latencies)} edits, debounce "
        f"{args.debounce_ms} ms): median {median * 1e3:.1f} ms ({median / parse:.0f}x the file "
        f"parse, {median / check:.2f}x the project check), p90 {p90 * 1e3:.1f} ms"
    )
    if cpu is not None:
        print(f"          server CPU time per edit (user+system)   : {cpu * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
