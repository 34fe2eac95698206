#!/usr/bin/env bash
# The default model's whole recipe, corpus to shipped files (models/default/README.md has
# its figures). Run from the repository root after `npm ci && npm run build`; about 2 h 50 min
# on two cores. Every training phase checkpoints: run the script again to resume.
set -euo pipefail
work=${GAPO_RECIPE_DIR:-.gapo/recipe}
episodes=${GAPO_EPISODES:-../shared/data/edits}
gapo() { node dist/cli.js "$@"; }

gapo corpus --out "$work/corpus" --episodes "$episodes"
[ -f "$work/tokenizer/tokenizer.json" ] || gapo tokenizer --corpus "$work/corpus" --out "$work/tokenizer" --vocab 8192
# code-3m: the shape that learned most per minute of this machine (models/default/README.md).
gapo pretrain --corpus "$work/corpus" --tokenizer "$work/tokenizer" --shape code-3m --out "$work/pretrain" \
  --steps 1300 --batch 8 --micro-batch 8 --seq 512 --lr 3e-3 --warmup 100 --eval-every 50 --checkpoint-every 50 \
  --held-out-sequences 8 --minutes 75
[ -f "$work/pretrain/model/model.safetensors" ] || { echo "pretraining stopped early: run again to resume"; exit 3; }
# Fill-in-the-middle, suffix first: the model continues the code at the cursor (a model this
# small cannot copy a whole region back, which the edit format needs).
gapo sft --model "$work/pretrain/model" --episodes "$episodes" --corpus "$work/corpus" --out "$work/sft-fim" --format fim-spm \
  --steps 800 --batch 32 --micro-batch 8 --lr 1e-3 --warmup 30 --eval-every 50 --checkpoint-every 25 --minutes 80
[ -f "$work/sft-fim/model/model.safetensors" ] || { echo "edit tuning stopped early: run again to resume"; exit 3; }
# More tuning, now with words typed inside a line before text that stays (without them the
# model writes the rest of the line again) and more real episodes; a new seed, new examples.
gapo sft --model "$work/sft-fim/model" --episodes "$episodes" --corpus "$work/corpus" --out "$work/sft-more" \
  --mix episode=0.4,finish-line=0.15,span=0.15,mid-line=0.15,unchanged=0.15 --seed 2 \
  --steps 600 --batch 32 --micro-batch 8 --lr 5e-4 --warmup 30 --eval-every 50 --checkpoint-every 25 --minutes 60
[ -f "$work/sft-more/model/model.safetensors" ] || { echo "edit tuning stopped early: run again to resume"; exit 3; }
gapo ship-model --model "$work/sft-more/model" --corpus "$work/corpus" --curves "$work/pretrain/curve.json,$work/sft-fim/curve.json,$work/sft-more/curve.json" --out models/default
