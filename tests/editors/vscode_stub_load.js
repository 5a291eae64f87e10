// Loads the bundled extension in plain Node with a stand-in `vscode` module (every class,
// namespace and enum that @types/vscode declares) and prints what the module exports.
// Usage: node vscode_stub_load.js <dist/extension.js> <@types/vscode/index.d.ts> [call.json]
// With a third argument ({"fn": name, "args": [...]}) it calls that export instead and prints
// {"result": ...} or {"error": message, "name": error class}.
"use strict";
const fs = require("fs");
const Module = require("module");

const [bundle, dts, call] = process.argv.slice(2);
const names = new Set();
for (const m of fs.readFileSync(dts, "utf8").matchAll(/^\s*export (?:class|namespace|enum) (\w+)/gm)) {
  names.add(m[1]);
}
const anything = new Proxy(function () {}, {
  get: (_t, p) => (p === "prototype" ? {} : anything),
  apply: () => anything,
  construct: () => ({}),
});
const stub = {};
for (const name of names) {
  stub[name] = class {};
  Object.setPrototypeOf(stub[name], anything);
}
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: stub };
const ext = require(bundle);
if (call) {
  const { fn, args } = JSON.parse(fs.readFileSync(call, "utf8"));
  let answer;
  try {
    answer = { result: ext[fn](...args) };
  } catch (error) {
    answer = { error: String(error.message), name: error.name, tried: error.tried };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  process.exit(0);
}
const out = {};
for (const [key, value] of Object.entries(ext)) {
  out[key] = typeof value === "function" ? `function:${value.length}` : value;
}
process.stdout.write(JSON.stringify(out) + "\n");
