// Loads the bundled extension in plain Node with a stand-in `vscode` module (every class,
// namespace and enum that @types/vscode declares) and prints what the module exports.
// Usage: node vscode_stub_load.js <dist/extension.js> <@types/vscode/index.d.ts>
"use strict";
const fs = require("fs");
const Module = require("module");

const [bundle, dts] = process.argv.slice(2);
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
const out = {};
for (const [key, value] of Object.entries(ext)) {
  out[key] = typeof value === "function" ? `function:${value.length}` : value;
}
process.stdout.write(JSON.stringify(out) + "\n");
