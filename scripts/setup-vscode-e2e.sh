#!/usr/bin/env bash
# Installs what the end-to-end tests drive: code-server 4.100.3 (VS Code 1.100.3 on Node 20)
# in .vscode-test/code-server, and Debian's Chromium. Every workaround below is a fact checked
# on these machines (shared/notes/vscode-e2e.md). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION=4.100.3
PREFIX=.vscode-test/code-server
BIN="$PREFIX/node_modules/.bin/code-server"

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
# code-server's kerberos module compiles against gssapi/gssapi.h.
[ -e /usr/include/gssapi/gssapi.h ] || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-vscode-e2e: installing ${missing[*]}"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

installed() { HOME=$(mktemp -d) "$BIN" --version 2>/dev/null | grep -Eo '^[0-9]+\.[0-9]+\.[0-9]+' | head -1; }
if [ -x "$BIN" ] && [ "$(installed)" = "$CODE_SERVER_VERSION" ]; then
  echo "setup-vscode-e2e: code-server $CODE_SERVER_VERSION is installed"
  exit 0
fi

# @vscode/ripgrep downloads its binary from a host these machines cannot reach; it looks in this
# cache first, where a tarball holding Debian's rg satisfies it.
cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache"
tarball="$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -s "$tarball" ]; then
  staging=$(mktemp -d)
  cp "$(command -v rg)" "$staging/rg"
  tar -czf "$tarball" -C "$staging" rg
  rm -rf "$staging"
fi

echo "setup-vscode-e2e: installing code-server $CODE_SERVER_VERSION in $PREFIX"
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{ "private": true }' >"$PREFIX/package.json"
# Running as root, node-pty's install runs `npx node-gyp` (which must not ask), and node-gyp
# must find Node's headers where Debian's Node keeps them.
# npm 11 runs no dependency install script unless allowed: code-server builds its native
# modules in them (in a nested npm install of its own, which inherits the environment).
npm_config_dangerously_allow_all_scripts=true npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir="${npm_config_nodedir:-/usr}" \
  npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION"
[ "$(installed)" = "$CODE_SERVER_VERSION" ] || { echo "setup-vscode-e2e: code-server did not install" >&2; exit 1; }
