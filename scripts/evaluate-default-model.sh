#!/usr/bin/env bash
# The default model's figures on every test set (never trained on): greedy rewrites scored by
# exact match and edit similarity beside the unchanged region (gapo eval), and characters
# saved while typing through the language server (gapo replay --typing, the first N episodes
# of each set). Writes one JSON line per set and measure to $out (default
# models/default/figures.jsonl). Run from the repository root after npm run build.
set -euo pipefail
model=${1:-models/default}
out=${2:-models/default/figures.jsonl}
episodes=${GAPO_EPISODES:-../shared/data/edits}
typing_limit=${GAPO_TYPING_LIMIT:-30}
: > "$out"
for file in "$episodes"/*.test.jsonl; do
  set_name=$(basename "$file" .test.jsonl)
  eval_json=$(node dist/cli.js eval --model "$model" --episodes "$file" --max-tokens 192 --json)
  echo "{\"set\":\"$set_name\",\"measure\":\"eval\",\"result\":$eval_json}" | tee -a "$out"
  typing_json=$(node dist/cli.js replay --typing --model "$model" --episodes "$file" --limit "$typing_limit" --json)
  echo "{\"set\":\"$set_name\",\"measure\":\"typing\",\"limit\":$typing_limit,\"result\":$typing_json}" | tee -a "$out"
done
