"""Run example projects in Cloudflare's own toolchain: tsc, vitest in workerd, wrangler dev.

Everything here is offline and uses the pinned toolchain in tests/runtime/node_modules
(installed by `npm ci --prefix tests/runtime`, which scripts/test.sh does). Each step runs
in its own process group (new session) and the whole group is killed when the step ends or
times out, so no workerd outlives its step; nothing is ever killed by name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent
ROOT = RUNTIME_DIR.parent.parent
EXAMPLES_DIR = ROOT / "examples"
NODE_MODULES = RUNTIME_DIR / "node_modules"
BIN = NODE_MODULES / ".bin"
BEHAVIOUR_DIR = RUNTIME_DIR / "behaviour"
VITEST_CONFIG = RUNTIME_DIR / "vitest.runtime.config.mjs"
TESTS_TSCONFIG = RUNTIME_DIR / "tsconfig.behaviour.json"

EXAMPLES = ("chat-room", "rate-limiter", "game-lobby")

# Step time limits (seconds). Normal runs take 2-6 s each on the 2-core machine.
TSC_TIMEOUT = 120
VITEST_TIMEOUT = 180
HARDEN_TIMEOUT = 180
WRANGLER_READY_TIMEOUT = 60

# Which behaviour tests go into which build (paths under behaviour/<example>/):
#   *.test.ts            both builds: client-visible behaviour hardening must keep
#   original/*.test.ts   original only (planted problems, RPC methods a fix may remove)
#   hardened/*.test.ts   hardened build only (the patterns the fixes write)
ORIGINAL = "original"
HARDENED = "hardened"


def toolchain_missing() -> str | None:
    """Why the runtime suite cannot run here, or None."""
    for tool in ("tsc", "vitest", "wrangler"):
        if not (BIN / tool).exists():
            return (
                f"{BIN / tool} is missing: install the pinned toolchain with "
                "`npm ci --prefix tests/runtime` (scripts/test.sh does this)"
            )
    if shutil.which("node") is None:
        return "node is not on PATH (Node 20 is expected; see docs/runtime-tests.md)"
    return None


def tool_env(project: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NO_COLOR="1",
        FORCE_COLOR="0",
        # wrangler: no telemetry, and no banner (the banner runs an npm update check).
        WRANGLER_SEND_METRICS="false",
        WRANGLER_HIDE_BANNER="true",
    )
    env.pop("NODE_OPTIONS", None)
    if project is not None:
        env["WRANGLER_LOG_PATH"] = str(project / ".wrangler" / "logs")
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the step's whole process group (it has its own session), nothing else."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; stragglers in the group (workerd) get the next signal.
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return


@dataclass
class StepResult:
    name: str
    cmd: list[str]
    cwd: Path
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        status = "timed out" if self.timed_out else f"exit code {self.returncode}"
        return (
            f"{self.name} failed ({status}, {self.seconds:.1f}s)\n"
            f"$ (cd {self.cwd} && {' '.join(self.cmd)})\n{self.output}"
        )


def run_step(name: str, cmd: list[str], cwd: Path, timeout: float) -> StepResult:
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=tool_env(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, _ = proc.communicate()
    finally:
        # workerd may outlive a crashed vitest/wrangler: clear the group either way.
        _kill_group(proc)
    return StepResult(
        name=name,
        cmd=[str(c) for c in cmd],
        cwd=cwd,
        returncode=proc.returncode if proc.returncode is not None else -1,
        output=out.decode("utf-8", "replace"),
        seconds=time.monotonic() - start,
        timed_out=timed_out,
    )


@dataclass
class VitestFailure:
    file: str
    test: str
    messages: list[str]


@dataclass
class VitestResult:
    label: str
    step: StepResult
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[VitestFailure] = field(default_factory=list)
    report_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.step.ok and self.failed == 0 and self.report_error is None and self.passed > 0

    @property
    def summary(self) -> str:
        """The plain line CI reads."""
        return f"{self.passed} passed, {self.failed} failed"

    def describe(self) -> str:
        lines = [f"vitest in workerd, {self.label}: {self.summary}"]
        if self.report_error:
            lines.append(self.report_error)
        if self.passed == 0 and not self.failures:
            lines.append("no test ran")
        for f in self.failures:
            lines.append(f"FAILED {f.file} > {f.test}")
            lines.extend("    " + m.replace("\n", "\n    ") for m in f.messages[:3])
        lines.append("--- vitest output ---")
        lines.append(self.step.output)
        return "\n".join(lines)


def parse_vitest_report(label: str, step: StepResult, report: Path) -> VitestResult:
    result = VitestResult(label=label, step=step)
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.report_error = f"no JSON report from vitest ({exc})"
        result.failed = 1
        return result
    for suite in data.get("testResults", []):
        file = os.path.relpath(suite.get("name", "?"), step.cwd)
        assertions = suite.get("assertionResults", [])
        for a in assertions:
            status = a.get("status")
            if status == "passed":
                result.passed += 1
            elif status == "failed":
                result.failed += 1
                result.failures.append(
                    VitestFailure(file, a.get("fullName", "?"), a.get("failureMessages", []))
                )
            else:
                result.skipped += 1
        # A file that failed to load (syntax error, failed import) has no assertions.
        if suite.get("status") == "failed" and not any(
            a.get("status") == "failed" for a in assertions
        ):
            result.failed += 1
            result.failures.append(
                VitestFailure(file, "(file failed to run)", [suite.get("message", "")])
            )
    if not step.ok and result.failed == 0:
        # Unhandled errors, a worker that would not start, a timeout...
        result.failed = 1
        result.report_error = "vitest exited with an error outside any test (see output)"
    return result


class RuntimeProject:
    """A temporary copy of one example, wired to the pinned toolchain."""

    def __init__(self, example: str, dest: Path) -> None:
        self.example = example
        self.dir = dest
        shutil.copytree(
            EXAMPLES_DIR / example,
            dest,
            ignore=shutil.ignore_patterns("node_modules", ".wrangler", ".vite-cache", "test"),
        )
        # vite and tsc resolve packages through the real path, so a link is enough.
        (dest / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
        shutil.copy(VITEST_CONFIG, dest / VITEST_CONFIG.name)
        shutil.copy(TESTS_TSCONFIG, dest / TESTS_TSCONFIG.name)
        shutil.copytree(BEHAVIOUR_DIR / "lib", dest / "test" / "lib")

    def add_behaviour_tests(
        self, build: str, fixed_rules: set[str] | None = None
    ) -> tuple[list[Path], list[tuple[str, list[str]]]]:
        """Copy this example's behaviour tests for `build` (ORIGINAL or HARDENED).

        A test file whose first lines say `// verifies: rule-a, rule-b` is copied only when
        `fixed_rules` is None or holds all of them. Returns (copied files, [(file name,
        rules not fixed)] for the files left out). Helper modules (`*.ts` that are not
        `*.test.ts`) are always copied.
        """
        src = BEHAVIOUR_DIR / self.example
        dst = self.dir / "test" / "behaviour"
        copied: list[Path] = []
        left_out: list[tuple[str, list[str]]] = []
        for file in sorted(src.glob("*.ts")) + sorted((src / build).glob("*.ts")):
            rel = file.relative_to(src)
            if file.name.endswith(".test.ts") and fixed_rules is not None:
                missing = [r for r in verified_rules(file) if r not in fixed_rules]
                if missing:
                    left_out.append((str(rel), missing))
                    continue
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(file, target)
            copied.append(target)
        return copied, left_out

    def finding_counts(self) -> dict[str, int]:
        """Findings per rule id from `durable-harden check --output-format json`."""
        proc = subprocess.run(
            [*durable_harden_command(), "check", "--output-format", "json", "--exit-zero", "."],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=HARDEN_TIMEOUT,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"durable-harden check failed:\n{proc.stdout}\n{proc.stderr}")
        counts: dict[str, int] = {}
        for finding in json.loads(proc.stdout or "[]"):
            counts[finding["code"]] = counts.get(finding["code"], 0) + 1
        return counts

    def tsc(self, label: str = "") -> StepResult:
        return run_step(
            f"tsc --noEmit {self.example}{label}",
            [str(BIN / "tsc"), "--noEmit", "-p", "."],
            self.dir,
            TSC_TIMEOUT,
        )

    def tsc_tests(self, label: str) -> StepResult:
        """Type-check the copied behaviour tests (and the sources they import)."""
        return run_step(
            f"tsc --noEmit -p {TESTS_TSCONFIG.name} {self.example} ({label})",
            [str(BIN / "tsc"), "--noEmit", "-p", TESTS_TSCONFIG.name],
            self.dir,
            TSC_TIMEOUT,
        )

    def vitest(self, label: str, files: list[str] | None = None) -> VitestResult:
        report = self.dir / f".vitest-report-{re.sub(r'[^a-z0-9]+', '-', label.lower())}.json"
        report.unlink(missing_ok=True)
        cmd = [
            str(BIN / "vitest"),
            "run",
            "--config",
            VITEST_CONFIG.name,
            "--reporter=default",
            "--reporter=json",
            f"--outputFile.json={report}",
            *(files or []),
        ]
        step = run_step(f"vitest run ({self.example}, {label})", cmd, self.dir, VITEST_TIMEOUT)
        return parse_vitest_report(f"{self.example} ({label})", step, report)

    def harden(self) -> StepResult:
        return run_step(
            f"durable-harden harden {self.example}",
            [*durable_harden_command(), "harden", "--unsafe-fixes", "--yes", str(self.dir)],
            self.dir,
            HARDEN_TIMEOUT,
        )


# `- [tier] **label** (rule-id, unsafe) in `file`: …` in harden's "Patterns applied" list
_APPLIED = re.compile(r"^- \[[^\]]*\] \*\*.*?\*\* \(([a-z0-9-]+), (?:safe|unsafe)\)", re.MULTILINE)
_VERIFIES = re.compile(r"^\s*//\s*verifies:\s*(.+)$", re.MULTILINE)


def verified_rules(test_file: Path) -> list[str]:
    """Rule ids named by a `// verifies: a, b` line in the file's leading comments."""
    head = test_file.read_text(encoding="utf-8").split("import", 1)[0]
    return [r.strip() for m in _VERIFIES.finditer(head) for r in m.group(1).split(",") if r.strip()]


def durable_harden_command() -> list[str]:
    """The CLI of this checkout, run by the interpreter running pytest."""
    return [sys.executable, "-m", "durable_harden"]


def harden_unavailable() -> str | None:
    """Why `durable-harden harden` cannot run yet (None once the subcommand exists)."""
    proc = subprocess.run(
        [*durable_harden_command(), "harden", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 0:
        return None
    last = (proc.stderr or proc.stdout).strip().splitlines()
    return f"`durable-harden harden --help` fails ({last[-1] if last else proc.returncode})"


# ---------------------------------------------------------------- wrangler dev


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevServer:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()


@contextmanager
def wrangler_dev(project: Path, persist_to: Path) -> Iterator[DevServer]:
    """`wrangler dev` (local workerd) on `project` with Durable Object storage in `persist_to`.

    Stopping kills the process group, so workerd goes with wrangler.
    """
    port = free_port()
    log = project / f".wrangler-dev-{port}.log"
    cmd = [
        str(BIN / "wrangler"),
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--persist-to",
        str(persist_to),
        "--show-interactive-dev-session=false",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=project,
            env=tool_env(project),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WRANGLER_READY_TIMEOUT
        while True:
            text = log.read_text(encoding="utf-8", errors="replace")
            if re.search(r"Ready on http://", text):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"wrangler dev did not become ready (exit {proc.poll()}):\n"
                    f"$ (cd {project} && {' '.join(cmd)})\n{text}"
                )
            time.sleep(0.2)
        yield DevServer(f"http://127.0.0.1:{port}", proc, log)
    finally:
        _kill_group(proc)


def wrangler_dev_log(server: DevServer) -> str:
    return server.log.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------- the harden flow


@dataclass
class HardenReport:
    example: str
    project: RuntimeProject
    steps: list[StepResult] = field(default_factory=list)
    findings_before: dict[str, int] = field(default_factory=dict)
    findings_after: dict[str, int] = field(default_factory=dict)
    # hand-written hardened tests not run because harden applied no fix for their rule
    not_verified: list[tuple[str, list[str]]] = field(default_factory=list)
    vitest: VitestResult | None = None
    # rules harden's report lists under "Patterns applied"
    applied_rules: set[str] = field(default_factory=set)

    @property
    def fixed_rules(self) -> set[str]:
        """Rules with fewer findings after `harden` than before, plus the rules harden says
        it applied: a finding that only appears after another fix (websocket-state-in-memory
        once the sockets are hibernatable) is fixed without ever being counted before."""
        return {
            rule
            for rule, count in self.findings_before.items()
            if self.findings_after.get(rule, 0) < count
        } | self.applied_rules

    @property
    def failure(self) -> str | None:
        for step in self.steps:
            if not step.ok:
                return step.describe()
        if self.vitest is None:
            return "vitest did not run"
        if not self.vitest.ok:
            return self.vitest.describe()
        return None

    def notes(self) -> list[str]:
        return [
            f"{self.example}: {name} not run: harden applied no fix for {', '.join(rules)}"
            for name, rules in self.not_verified
        ]


def harden_and_verify(example: str, dest: Path) -> HardenReport:
    """Copy `example` to `dest`, check it compiles, harden it, check it still compiles,
    then run the generated tests (test/durable-harden/) and the hand-written ones
    (behaviour/<example>/*.test.ts and hardened/*.test.ts) in workerd.

    Hand-written hardened tests marked `// verifies: <rule>` run when harden fixed at
    least one finding of each rule they name (see `HardenReport.not_verified`).
    Stops at the first failing step; `report.failure` carries that tool's own output.
    """
    project = RuntimeProject(example, dest)
    report = HardenReport(example, project)
    report.findings_before = project.finding_counts()
    for step in (project.tsc, project.harden, lambda: project.tsc(" (hardened)")):
        result = step()
        report.steps.append(result)
        if not result.ok:
            return report
    report.findings_after = project.finding_counts()
    report.applied_rules = set(_APPLIED.findall(report.steps[1].output))
    _, report.not_verified = project.add_behaviour_tests(HARDENED, report.fixed_rules)
    report.steps.append(project.tsc_tests("hardened"))
    if not report.steps[-1].ok:
        return report
    report.vitest = project.vitest("hardened")
    return report
