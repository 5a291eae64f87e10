#!/usr/bin/env bash
# The whole test suite from a fresh checkout: Python deps, the pinned Cloudflare toolchain
# (TypeScript, wrangler, workerd, vitest) from tests/runtime/package-lock.json, the VS Code
# extension's build tools from editors/vscode/package-lock.json, real VS Code (code-server and
# puppeteer-core from npm, cached outside the repository in ~/.cache/durable-harden), then pytest.
# The Debian packages some tests drive (neovim, emacs-nox, elpa-eglot, chromium, shellcheck) are
# installed by .ci/run; install-code-server.sh installs chromium and its build headers when root.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix tests/runtime --no-audit --no-fund --loglevel=error
npm ci --prefix editors/vscode --prefer-offline --no-audit --no-fund --loglevel=error  # VS Code extension build
bash editors/vscode/scripts/install-code-server.sh >/dev/null  # a no-op once cached
python3 -m pytest "$@"
