#!/usr/bin/env bash
# The whole test suite from a fresh checkout: Python deps, the pinned Cloudflare toolchain
# (TypeScript, wrangler, workerd, vitest) from tests/runtime/package-lock.json, the VS Code
# extension's build tools from editors/vscode/package-lock.json, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix tests/runtime --no-audit --no-fund --loglevel=error
npm ci --prefix editors/vscode --prefer-offline --no-audit --no-fund --loglevel=error  # VS Code extension build
python3 -m pytest "$@"
