// node --test: the settings object the server receives.
import * as assert from "node:assert/strict";
import { test } from "node:test";

import { needsRestart, serverSettings } from "../src/settings";

function getter(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

test("server keys are passed; client-only keys are not", () => {
  const got = serverSettings(
    getter({
      select: ["ALL"],
      ignore: ["global-singleton"],
      severity: { "sql-missing-index": "Error", "unused-suppression": "off" },
      unsafeFixes: true,
      debounceMs: 250,
      maxFileBytes: 1000,
      path: "durable-harden",
      interpreter: "python3",
      "trace.server": "verbose",
    }),
  );
  assert.deepEqual(got, {
    select: ["ALL"],
    ignore: ["global-singleton"],
    severity: { "sql-missing-index": "error", "unused-suppression": "off" },
    unsafeFixes: true,
    debounceMs: 250,
    maxFileBytes: 1000,
  });
});

test("values of the wrong type are left out instead of failing the whole object", () => {
  const got = serverSettings(
    getter({
      select: [1, 2],
      ignore: "global-singleton",
      severity: { a: "loud", b: 3, c: "hint" },
      unsafeFixes: "yes",
      debounceMs: -1,
      maxFileBytes: 1.5,
    }),
  );
  assert.deepEqual(got, { ignore: ["global-singleton"], severity: { c: "hint" } });
  assert.deepEqual(serverSettings(getter({})), {});
});

test("only path/interpreter changes restart the server", () => {
  assert.equal(needsRestart((k) => k === "durableHarden.path"), true);
  assert.equal(needsRestart((k) => k === "durableHarden.interpreter"), true);
  assert.equal(needsRestart((k) => k === "durableHarden.importStrategy"), true);
  assert.equal(needsRestart((k) => k === "durableHarden.enable"), true);
  assert.equal(needsRestart((k) => k === "durableHarden.select"), false);
});
