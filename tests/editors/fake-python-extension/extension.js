// Test stand-in with the id of the Python extension (ms-python.python): its exported API has
// the `environments` namespace of @vscode/python-extension, answering with DH_FAKE_PYTHON.
"use strict";
const vscode = require("vscode");

exports.activate = function activate() {
  const python = process.env.DH_FAKE_PYTHON;
  const active = { id: "dh-fake", path: python };
  return {
    environments: {
      getActiveEnvironmentPath: () => active,
      resolveEnvironment: async (env) => {
        const where = typeof env === "string" ? env : env.path;
        return where === python ? { id: "dh-fake", path: python, executable: { uri: vscode.Uri.file(python) } } : undefined;
      },
      onDidChangeActiveEnvironmentPath: () => ({ dispose() {} }),
    },
  };
};
exports.deactivate = function deactivate() {};
