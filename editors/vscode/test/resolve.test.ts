// node --test: which command the extension starts, from which folder, and the message when there
// is none.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";

import { INSTALL_HINT, launcherPath, resolveServerCommand, ServerNotFound } from "../src/resolve";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "dh-resolve-"));
after(() => fs.rmSync(base, { recursive: true, force: true }));
const EXT = "/opt/ext/durable-harden-0.1.0";
const BUNDLED = ["-I", path.join(EXT, "bundled", "tool", "launch.py"), "serve"];

function tempDir(): string {
  return fs.mkdtempSync(path.join(base, "d-"));
}

function executable(dir: string, name: string, mode = 0o755): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "#!/bin/sh\nexit 0\n");
  fs.chmodSync(file, mode);
  return file;
}

test("default: python3 from PATH runs the bundled server, isolated, from the extension folder", () => {
  const bin = tempDir();
  const python = executable(bin, "python3");
  const workspace = tempDir();
  const got = resolveServerCommand({}, { PATH: `/nonexistent:${bin}` }, {
    extensionPath: EXT,
    workspaceFolders: [workspace],
  });
  assert.deepEqual(got, {
    command: python,
    args: BUNDLED,
    cwd: EXT,
    source: "PATH",
    importStrategy: "useBundled",
  });
  assert.equal(launcherPath(EXT), BUNDLED[1]);
  assert.notEqual(got.cwd, workspace);
});

test("a relative PATH entry (the current folder) is never searched", () => {
  const bin = tempDir();
  executable(bin, "python3");
  const cwd = process.cwd();
  process.chdir(bin);
  try {
    assert.throws(
      () => resolveServerCommand({}, { PATH: "." }, { extensionPath: EXT }),
      ServerNotFound,
    );
  } finally {
    process.chdir(cwd);
  }
});

test("a file on PATH that is not executable is skipped", () => {
  const first = tempDir();
  const second = tempDir();
  executable(first, "python3", 0o644);
  const exe = executable(second, "python3");
  const got = resolveServerCommand({}, { PATH: `${first}:${second}` }, { extensionPath: EXT });
  assert.equal(got.command, exe);
});

test("no Python at all: ServerNotFound with what works (no `pip install durable-harden`)", () => {
  assert.throws(
    () => resolveServerCommand({}, { PATH: tempDir() }, { extensionPath: EXT }),
    (error: unknown) =>
      error instanceof ServerNotFound &&
      error.message.includes(INSTALL_HINT) &&
      error.message.includes("Python 3.11") &&
      error.tried.length === 2,
  );
  assert.doesNotMatch(INSTALL_HINT, /pip install durable-harden/);
});

test("the Python extension's interpreter comes before PATH; fromEnvironment is passed on", () => {
  const env = tempDir();
  const python = executable(env, "python");
  const bin = tempDir();
  executable(bin, "python3");
  const got = resolveServerCommand(
    { importStrategy: "fromEnvironment" },
    { PATH: bin },
    { extensionPath: EXT, pythonFromExtension: python, trusted: true },
  );
  assert.equal(got.command, python);
  assert.equal(got.source, "python-extension");
  assert.deepEqual(got.args, ["-I", BUNDLED[1], "--from-environment", "serve"]);
});

test("untrusted workspace: an interpreter inside it is not run", () => {
  const workspace = tempDir();
  fs.mkdirSync(path.join(workspace, ".venv", "bin"), { recursive: true });
  const inside = executable(path.join(workspace, ".venv", "bin"), "python");
  const bin = tempDir();
  const system = executable(bin, "python3");
  const ctx = {
    extensionPath: EXT,
    pythonFromExtension: inside,
    workspaceFolders: [workspace],
  };
  assert.equal(resolveServerCommand({}, { PATH: bin }, { ...ctx, trusted: false }).command, system);
  assert.equal(resolveServerCommand({}, { PATH: bin }, { ...ctx, trusted: true }).command, inside);
});

test("durableHarden.path wins, absolute or relative to the workspace folder", () => {
  const folder = tempDir();
  fs.mkdirSync(path.join(folder, "bin"));
  const exe = executable(path.join(folder, "bin"), "dh");
  assert.deepEqual(
    resolveServerCommand({ path: exe, interpreter: "/usr/bin/python3" }, {}, { extensionPath: EXT }),
    { command: exe, args: ["serve"], cwd: EXT, source: "path" },
  );
  const ctx = { extensionPath: EXT, workspaceFolders: [folder] };
  assert.equal(resolveServerCommand({ path: "bin/dh" }, {}, ctx).command, exe);
});

test("a configured path that does not exist is an error, not a silent fallback", () => {
  const bin = tempDir();
  executable(bin, "python3");
  assert.throws(
    () =>
      resolveServerCommand({ path: "/nowhere/durable-harden" }, { PATH: bin }, { extensionPath: EXT }),
    (error: unknown) =>
      error instanceof ServerNotFound && error.message.includes("/nowhere/durable-harden"),
  );
});

test("durableHarden.interpreter: <python> -I launch.py serve; a missing one is an error", () => {
  const venv = tempDir();
  fs.mkdirSync(path.join(venv, ".venv", "bin"), { recursive: true });
  const python = executable(path.join(venv, ".venv", "bin"), "python");
  const ctx = { extensionPath: EXT, workspaceFolders: [venv], pythonFromExtension: "/x/python" };
  const got = resolveServerCommand({ interpreter: ".venv/bin/python" }, { PATH: "" }, ctx);
  assert.deepEqual(got, {
    command: python,
    args: BUNDLED,
    cwd: EXT,
    source: "interpreter",
    importStrategy: "useBundled",
  });
  const bin = tempDir();
  const py = executable(bin, "python3");
  assert.equal(resolveServerCommand({ interpreter: "python3" }, { PATH: bin }, ctx).command, py);
  assert.throws(
    () => resolveServerCommand({ interpreter: "python9" }, { PATH: bin }, ctx),
    (error: unknown) =>
      error instanceof ServerNotFound && error.message.includes("durableHarden.interpreter"),
  );
});
