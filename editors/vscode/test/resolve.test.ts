// node --test: which command the extension starts, and the message when there is none.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";

import { INSTALL_HINT, resolveServerCommand, ServerNotFound } from "../src/resolve";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "dh-resolve-"));
after(() => fs.rmSync(base, { recursive: true, force: true }));

function tempDir(): string {
  return fs.mkdtempSync(path.join(base, "d-"));
}

function executable(dir: string, name: string, mode = 0o755): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "#!/bin/sh\nexit 0\n");
  fs.chmodSync(file, mode);
  return file;
}

test("default: durable-harden from PATH, started with `serve`", () => {
  const bin = tempDir();
  const exe = executable(bin, "durable-harden");
  const got = resolveServerCommand({ path: "durable-harden" }, { PATH: `/nonexistent:${bin}` });
  assert.deepEqual(got, { command: exe, args: ["serve"], source: "default" });
});

test("a file on PATH that is not executable is skipped", () => {
  const first = tempDir();
  const second = tempDir();
  executable(first, "durable-harden", 0o644);
  const exe = executable(second, "durable-harden");
  const got = resolveServerCommand({}, { PATH: `${first}:${second}` });
  assert.equal(got.command, exe);
});

test("not on PATH: ServerNotFound naming pip install durable-harden", () => {
  assert.throws(
    () => resolveServerCommand({ path: "durable-harden" }, { PATH: tempDir() }),
    (error: unknown) =>
      error instanceof ServerNotFound &&
      error.message.includes(INSTALL_HINT) &&
      error.message.includes("durableHarden.path") &&
      error.tried.length === 1,
  );
});

test("durableHarden.path wins, absolute or relative to the workspace folder", () => {
  const folder = tempDir();
  fs.mkdirSync(path.join(folder, "bin"));
  const exe = executable(path.join(folder, "bin"), "dh");
  assert.deepEqual(resolveServerCommand({ path: exe, interpreter: "/usr/bin/python3" }, {}), {
    command: exe,
    args: ["serve"],
    source: "path",
  });
  assert.equal(resolveServerCommand({ path: "bin/dh" }, {}, folder).command, exe);
});

test("a configured path that does not exist is an error, not a silent fallback", () => {
  const bin = tempDir();
  executable(bin, "durable-harden");
  assert.throws(
    () => resolveServerCommand({ path: "/nowhere/durable-harden" }, { PATH: bin }),
    (error: unknown) =>
      error instanceof ServerNotFound && error.message.includes("/nowhere/durable-harden"),
  );
});

test("durableHarden.interpreter: <python> -m server.cli serve", () => {
  const venv = tempDir();
  fs.mkdirSync(path.join(venv, ".venv", "bin"), { recursive: true });
  const python = executable(path.join(venv, ".venv", "bin"), "python");
  const got = resolveServerCommand({ interpreter: ".venv/bin/python" }, { PATH: "" }, venv);
  assert.deepEqual(got, {
    command: python,
    args: ["-m", "server.cli", "serve"],
    source: "interpreter",
  });
  const bin = tempDir();
  const py = executable(bin, "python3");
  assert.equal(resolveServerCommand({ interpreter: "python3" }, { PATH: bin }).command, py);
  assert.throws(
    () => resolveServerCommand({ interpreter: "python9" }, { PATH: bin }),
    (error: unknown) =>
      error instanceof ServerNotFound && error.message.includes("durableHarden.interpreter"),
  );
});
