"""Benchmark: keystroke latency of the real language server on a 5,000-line Durable Object file.

    python bench/keystroke.py [--files N] [--edits 60] [--lines 5000] [--seed S]

Starts `durable-harden serve` over stdio (raw JSON-RPC, debounce 0), opens one generated DO
file of about --lines lines inside a Worker project (alone, or among N files of a monorepo made
by bench/generate.py when --files is given), then sends single-character edits at random places
(a letter typed at the end of a random line, then deleted again, so the file stays valid most of
the time as it does while typing) and measures each from didChange to the publishDiagnostics of
that version. The baseline, measured in the same run, is a full tree-sitter parse of that file.
Not a test: nothing is asserted. The last line is machine-readable:

    keystroke p50_ms=... p99_ms=... full_parse_ms=... ratio_p50_parse=... files=... lines=...
        server_rss_mb=... server_hwm_mb=...

`--typing` sends real typing instead (bench/typing_edits.py: a new method, a statement, SQL in a
call, a column of the schema constant, typed character by character with auto-closed brackets;
each scenario undone by one untimed full-text change): a line per scenario, then all of them.

The server's memory is read from /proc/<pid>/status after the edits (VmRSS: resident now,
VmHWM: the peak), so `--files 1000` says what a 1,000-file workspace costs to keep open.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tree_sitter import Parser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_lsp import Client, cpu_seconds, percentile  # noqa: E402
from generate import generate  # noqa: E402
from typing_edits import SCENARIOS, versions  # noqa: E402

from durable_harden.analyzers.source import language  # noqa: E402


def big_do_file(lines: int, rng: random.Random) -> str:
    """One DO class of about `lines` lines: SQL reads and writes, KV, an alarm, WebSockets."""
    head = [
        'import { DurableObject } from "cloudflare:workers";',
        "",
        "const SCHEMA = `",
        "  CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL,",
        "    body TEXT NOT NULL, created_at INTEGER NOT NULL);",
        "  CREATE INDEX IF NOT EXISTS items_by_owner ON items(owner);",
        "`;",
        "",
        "export class BigObject extends DurableObject {",
        "  constructor(ctx: DurableObjectState, env: unknown) {",
        "    super(ctx, env as never);",
        "    ctx.blockConcurrencyWhile(async () => {",
        "      this.ctx.storage.sql.exec(SCHEMA);",
        "    });",
        "  }",
        "",
        "  async alarm(): Promise<void> {",
        '    this.ctx.storage.sql.exec("DELETE FROM items WHERE created_at < ?", Date.now() - 864e5);',
        "  }",
        "",
        "  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {",
        "    ws.send(String(message));",
        "  }",
    ]
    body: list[str] = []
    n = 0
    while len(head) + len(body) < lines - 2:
        kind = n % 4
        if kind == 0:
            body += [
                "",
                f"  async add{n}(owner: string, text: string): Promise<number> {{",
                "    const cursor = this.ctx.storage.sql.exec(",
                '      "INSERT INTO items (owner, body, created_at) VALUES (?, ?, ?) RETURNING id",',
                "      owner,",
                f"      text + {rng.randint(0, 99)},",
                "      Date.now(),",
                "    );",
                "    return cursor.one().id as number;",
                "  }",
            ]
        elif kind == 1:
            body += [
                "",
                f"  list{n}(owner: string): unknown[] {{",
                "    return this.ctx.storage.sql",
                '      .exec("SELECT id, body FROM items WHERE owner = ? ORDER BY id DESC LIMIT 20", owner)',
                "      .toArray();",
                "  }",
            ]
        elif kind == 2:
            body += [
                "",
                f"  async counter{n}(key: string): Promise<number> {{",
                "    const value = ((await this.ctx.storage.get<number>(key)) ?? 0) + 1;",
                "    await this.ctx.storage.put(key, value);",
                f"    if (value > {rng.randint(10, 1000)}) {{",
                "      await this.ctx.storage.delete(key);",
                "    }",
                "    return value;",
                "  }",
            ]
        else:
            body += [
                "",
                f"  compute{n}(values: number[]): number {{",
                "    let total = 0;",
                "    for (const value of values) {",
                f"      total += value > {n} ? value : -value;",
                "    }",
                "    return total;",
                "  }",
            ]
        n += 1
    return "\n".join([*head, *body, "}", ""])


def make_project(tmp: Path, files: int | None, lines: int, seed: int) -> Path:
    rng = random.Random(seed)
    if files:
        project = generate(tmp / "mono", max(files - 1, 6), projects=1, seed=seed)[0]
    else:
        project = tmp / "worker"
        (project / "src").mkdir(parents=True)
        (project / "wrangler.jsonc").write_text(
            json.dumps(
                {
                    "name": "worker",
                    "main": "src/index.ts",
                    "compatibility_date": "2026-03-01",
                    "durable_objects": {"bindings": []},
                    "migrations": [],
                }
            )
        )
        (project / "src" / "index.ts").write_text("export default { fetch() {} };\n")
    config = json.loads((project / "wrangler.jsonc").read_text())
    config["durable_objects"]["bindings"].append({"name": "BIG", "class_name": "BigObject"})
    config["migrations"].append({"tag": "big", "new_sqlite_classes": ["BigObject"]})
    (project / "wrangler.jsonc").write_text(json.dumps(config, indent=2))
    index = project / "src" / "index.ts"
    index.write_text('export { BigObject } from "./big";\n' + index.read_text())
    (project / "src" / "big.ts").write_text(big_do_file(lines, rng))
    return project


def memory_mb(pid: int) -> tuple[float, float] | None:
    """(resident now, peak resident) of a process in MB: VmRSS and VmHWM of /proc/<pid>/status
    (Linux; None elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0]) / 1024  # kB
    if len(values) != 2:
        return None
    return values["VmRSS"], values["VmHWM"]


def _position(data: bytes, offset: int) -> dict[str, int]:
    """The LSP position of a byte offset (the generated file is ASCII: characters = bytes)."""
    line = data.count(b"\n", 0, offset)
    return {"line": line, "character": offset - (data.rfind(b"\n", 0, offset) + 1)}


def typing_changes(text: str) -> list[tuple[str, list[tuple[dict[str, Any], bytes]]]]:
    """Each scenario's didChange contents (one insertion per keystroke) and the text after."""
    data = text.encode()
    out = []
    for scenario in SCENARIOS:
        before = data
        changes = []
        for place, inserted, after in versions(data, scenario):
            at = _position(before, place)
            changes.append(({"range": {"start": at, "end": at}, "text": inserted.decode()}, after))
            before = after
        out.append((scenario.name, changes))
    return out


def run(
    project: Path, edits: int, seed: int, typing: bool = False, watched: bool = False
) -> tuple[list[float], float | None, tuple[float, float] | None]:
    rng = random.Random(seed)
    target = project / "src" / "big.ts"
    client = Client([sys.executable, "-m", "durable_harden", "serve"], project)
    try:
        client.request(
            "initialize",
            {
                "processId": None,
                "rootUri": project.as_uri(),
                "workspaceFolders": [{"uri": project.as_uri(), "name": project.name}],
                "capabilities": {
                    "textDocument": {"publishDiagnostics": {}},
                    # --watched: a client that watches the files (VS Code): the server then
                    # stats only what the watcher's events name (server/lsp/engine.py)
                    "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": watched}},
                },
                "initializationOptions": {"debounceMs": 0},
            },
        )
        client.notify("initialized", {})
        uri = target.as_uri()
        text = target.read_text()
        lines = text.split("\n")
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "typescript", "version": 1, "text": text}},
        )
        client.wait_diagnostics(uri, 1, timeout=600)
        version = 1
        latencies: list[float] = []
        cpu_start = None
        candidates = [i for i, line in enumerate(lines) if line.strip()]
        if typing:
            cpu_start = cpu_seconds(client.proc.pid)
            for name, changes in typing_changes(text):
                own: list[float] = []
                for change, _ in changes:
                    version += 1
                    sent = time.perf_counter()
                    client.notify(
                        "textDocument/didChange",
                        {
                            "textDocument": {"uri": uri, "version": version},
                            "contentChanges": [change],
                        },
                    )
                    received, _ = client.wait_diagnostics(uri, version, timeout=600)
                    own.append(received - sent)
                version += 1  # the scenario undone at once (untimed)
                client.notify(
                    "textDocument/didChange",
                    {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [{"text": text}],
                    },
                )
                client.wait_diagnostics(uri, version, timeout=600)
                own.sort()
                print(
                    f"typing {name:<14}: p50 {statistics.median(own) * 1e3:7.2f} ms, "
                    f"p90 {own[int(len(own) * 0.9)] * 1e3:7.2f}, max {own[-1] * 1e3:7.2f} "
                    f"({len(own)} keystrokes)"
                )
                latencies += own
        for number in range(0 if typing else edits + 4):  # (after the typing, none)
            if number % 2 == 0:
                row = rng.choice(candidates)
                col = len(lines[row])
                change = {
                    "range": {
                        "start": {"line": row, "character": col},
                        "end": {"line": row, "character": col},
                    },
                    "text": rng.choice("abcdefghijklmnopqrstuvwxyz"),
                }
            else:  # delete the letter typed by the previous edit
                change = {
                    "range": {
                        "start": {"line": row, "character": col},
                        "end": {"line": row, "character": col + 1},
                    },
                    "text": "",
                }
            if number == 4:
                cpu_start = cpu_seconds(client.proc.pid)
            version += 1
            sent = time.perf_counter()
            client.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
            )
            received, _ = client.wait_diagnostics(uri, version, timeout=600)
            if number >= 4:  # the first edits still warm caches
                latencies.append(received - sent)
        cpu_end = cpu_seconds(client.proc.pid)
        cpu = (
            (cpu_end - cpu_start) / len(latencies)
            if cpu_start is not None and cpu_end is not None
            else None
        )
        # the server's memory with the workspace open and analysed (after the edits)
        return latencies, cpu, memory_mb(client.proc.pid)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=None, help="project size (default: 2 files)")
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--typing", action="store_true", help="real typing (typing_edits.py)")
    parser.add_argument(
        "--watched", action="store_true", help="a client that watches files (as VS Code does)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), args.files, args.lines, args.seed)
        content = (project / "src" / "big.ts").read_bytes()
        files = sum(1 for _ in (project / "src").rglob("*.ts"))
        ts_parser = Parser(language("typescript"))
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            ts_parser.parse(content)
            samples.append(time.perf_counter() - start)
        full_parse = statistics.median(samples)
        latencies, cpu, memory = run(project, args.edits, args.seed, args.typing, args.watched)
    p50 = statistics.median(latencies)
    p99 = percentile(latencies, 0.99)
    line_count = content.count(b"\n")
    what = "typing keystrokes" if args.typing else "edits"
    print(f"project: {files} files; edited big.ts ({line_count} lines), {len(latencies)} {what}")
    print(f"baseline  full tree-sitter parse of big.ts : {full_parse * 1e3:8.2f} ms")
    print(
        f"didChange -> publishDiagnostics            : p50 {p50 * 1e3:8.2f} ms "
        f"({p50 / full_parse:.2f}x the parse), p99 {p99 * 1e3:.2f} ms"
    )
    if cpu is not None:
        print(f"server CPU time per edit                   : {cpu * 1e3:8.2f} ms")
    if memory is not None:
        print(
            f"server memory, workspace open             : {memory[0]:8.1f} MB resident "
            f"(VmRSS), peak {memory[1]:.1f} MB (VmHWM)"
        )
    rss = f" server_rss_mb={memory[0]:.1f} server_hwm_mb={memory[1]:.1f}" if memory else ""
    print(
        f"keystroke p50_ms={p50 * 1e3:.2f} p99_ms={p99 * 1e3:.2f} "
        f"full_parse_ms={full_parse * 1e3:.2f} ratio_p50_parse={p50 / full_parse:.2f} "
        f"files={files} lines={line_count}{rss}"
        + (" typing=1" if args.typing else "")
        + (" watched=1" if args.watched else "")
    )


if __name__ == "__main__":
    main()
