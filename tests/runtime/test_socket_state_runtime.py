"""websocket-not-hibernatable's listener fix carries a socket-keyed map into the sockets'
attachments in the same edit (issue 12): proven in workerd across a real hibernation.

The class is the rules fixture tests/fixtures/websocket-not-hibernatable/fix-map.before.ts. It is
fixed here by the CLI (`check --select websocket-not-hibernatable --unsafe-fixes --fix`), then
bound three times in one temporary project (fixed, original, fixed without the constructor's
rebuild) and exercised by socket-state/wake.test.ts: a socket opened with a name (query) and a
room (header), left idle past workerd's 10 s eviction, then asked "whoami". See
docs/runtime-tests.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from .conftest import record
from .harness import (
    BIN,
    HARDEN_TIMEOUT,
    NODE_MODULES,
    ROOT,
    TSC_TIMEOUT,
    VITEST_CONFIG,
    VITEST_TIMEOUT,
    durable_harden_command,
    parse_vitest_report,
    run_step,
)

FIXTURE = ROOT / "tests" / "fixtures" / "websocket-not-hibernatable" / "fix-map.before.ts"
TESTS = Path(__file__).resolve().parent / "socket-state"

WRANGLER = {
    "name": "socket-state",
    "main": "src/index.ts",
    "compatibility_date": "2026-03-01",
    "durable_objects": {
        "bindings": [
            {"name": "ROOM", "class_name": "Room"},
            {"name": "ROOM_ORIGINAL", "class_name": "RoomOriginal"},
            {"name": "ROOM_NO_REBUILD", "class_name": "RoomNoRebuild"},
        ]
    },
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Room", "RoomOriginal", "RoomNoRebuild"]}],
}

ENTRY = """export { Room } from "./room";
export { Room as RoomOriginal } from "./room-original";
export { Room as RoomNoRebuild } from "./room-no-rebuild";
export default {
  async fetch(): Promise<Response> {
    return new Response("not found", { status: 404 });
  },
};
"""

ENV_TYPES = """// `env` from "cloudflare:test" is Cloudflare.Env
declare global {
  namespace Cloudflare {
    interface Env {
      ROOM: DurableObjectNamespace;
      ROOM_ORIGINAL: DurableObjectNamespace;
      ROOM_NO_REBUILD: DurableObjectNamespace;
    }
  }
}

export {};
"""

TSCONFIG = {
    "compilerOptions": {
        "target": "es2022",
        "module": "es2022",
        "moduleResolution": "bundler",
        "lib": ["es2022"],
        "types": ["@cloudflare/workers-types", "@cloudflare/vitest-pool-workers/types"],
        "strict": True,
        "skipLibCheck": True,
        "noEmit": True,
        "isolatedModules": True,
    },
    "include": ["src/**/*.ts", "test/**/*.ts"],
}


def _findings(project: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [
            *durable_harden_command(),
            "check",
            "--output-format",
            "json",
            "--exit-zero",
            "--no-cache",
            "src/room.ts",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=HARDEN_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return list(json.loads(proc.stdout or "[]"))


def test_per_socket_values_survive_a_real_hibernation(tmp_path: Path) -> None:
    project = tmp_path / "socket-state"
    (project / "src").mkdir(parents=True)
    (project / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    original = FIXTURE.read_text(encoding="utf-8")
    room = project / "src" / "room.ts"
    room.write_text(original, encoding="utf-8")
    (project / "wrangler.jsonc").write_text(json.dumps(WRANGLER, indent=2), encoding="utf-8")

    # the fix, through the CLI a user runs
    before = [f["code"] for f in _findings(project)]
    assert before == ["websocket-not-hibernatable"], before
    fixed = run_step(
        "durable-harden check --fix (websocket-not-hibernatable)",
        [
            *durable_harden_command(),
            "check",
            "--no-cache",
            "--select",
            "websocket-not-hibernatable",
            "--unsafe-fixes",
            "--fix",
            ".",
        ],
        project,
        HARDEN_TIMEOUT,
    )
    assert fixed.ok, fixed.describe()
    hardened = room.read_text(encoding="utf-8")
    assert "this.ctx.acceptWebSocket(server);" in hardened
    assert "serializeAttachment({ room, members:" in hardened
    # no finding left behind, websocket-state-in-memory's included
    assert _findings(project) == []

    # the other two builds, beside it
    (project / "src" / "room-original.ts").write_text(original, encoding="utf-8")
    rebuild = re.compile(r"\n    // Sockets outlive hibernation.*?\n    }\n", re.DOTALL)
    assert len(rebuild.findall(hardened)) == 1, hardened
    (project / "src" / "room-no-rebuild.ts").write_text(
        rebuild.sub("\n", hardened), encoding="utf-8"
    )
    (project / "src" / "index.ts").write_text(ENTRY, encoding="utf-8")
    (project / "test").mkdir()
    (project / "test" / "env.d.ts").write_text(ENV_TYPES, encoding="utf-8")
    shutil.copy(TESTS / "wake.test.ts", project / "test" / "wake.test.ts")
    (project / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2), encoding="utf-8")
    shutil.copy(VITEST_CONFIG, project / VITEST_CONFIG.name)

    tsc = run_step(
        "tsc --noEmit socket-state", [str(BIN / "tsc"), "--noEmit", "-p", "."], project, TSC_TIMEOUT
    )
    assert tsc.ok, tsc.describe()

    report = project / ".vitest-report.json"
    step = run_step(
        "vitest run (socket-state)",
        [
            str(BIN / "vitest"),
            "run",
            "--config",
            VITEST_CONFIG.name,
            "--reporter=default",
            "--reporter=json",
            f"--outputFile.json={report}",
            "--testTimeout=60000",
        ],
        project,
        VITEST_TIMEOUT,
    )
    result = record(parse_vitest_report("socket-state (fixed, original, no rebuild)", step, report))
    assert result.ok and result.passed == 3, result.describe()
