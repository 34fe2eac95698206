#!/usr/bin/env bash
# Installs node-llama-cpp 3.22.1 (llama.cpp's prebuilt binaries as npm packages) in
# .llama-cpp/, for the GGUF test and the llama.cpp benchmark. Not a devDependency: the lock file
# would have to list its packages for every platform, and the registry these machines reach
# lacks the macOS and Windows ones. Its install script (which would download or build llama.cpp)
# does not run: the prebuilt binaries are all it needs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.22.1
PREFIX=.llama-cpp
installed=$(node -p "try { require('./$PREFIX/node_modules/node-llama-cpp/package.json').version } catch { '' }")
if [ "$installed" = "$VERSION" ]; then
  exit 0
fi
echo "setup-llama-cpp: installing node-llama-cpp $VERSION in $PREFIX"
mkdir -p "$PREFIX"
[ -f "$PREFIX/package.json" ] || echo '{ "private": true }' >"$PREFIX/package.json"
npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "node-llama-cpp@$VERSION"
