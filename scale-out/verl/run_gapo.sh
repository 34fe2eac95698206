#!/usr/bin/env bash
# GAPO on the episodes GAPO Assistant collected, with verl's PPO trainer and LoRA (not run on
# this project's machines: verl needs GPUs and packages they cannot fetch).
#
#   gapo export --format verl --out DATA/train.parquet --val DATA/val.parquet
#   scale-out/verl/run_gapo.sh DATA [MODEL] [more verl overrides...]
#
# MODEL: Qwen/Qwen2.5-Coder-0.5B-Instruct (default) or Qwen/Qwen2.5-Coder-1.5B-Instruct.
# One node: GPUS=<GPUs of this machine>. Several nodes (Ray): `ray start --head` on the first,
# `ray start --address=<head>:6379` on the others, then run this on the head with NNODES and GPUS
# (per node). The knobs mirror the server's defaults: G = 8 rollouts per prompt, GAPO's τ 0.5,
# PPO-clip 0.2 / 0.28, token-mean, LoRA on every linear layer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${1:?usage: run_gapo.sh DATA_DIR [MODEL] [verl overrides...]}
shift
model=${1:-Qwen/Qwen2.5-Coder-0.5B-Instruct}
[ $# -gt 0 ] && shift
# reward.py registers the "gapo" estimator (gapo.py) in verl's TaskRunner; τ comes from here.
export GAPO_TAU=${GAPO_TAU:-0.5}

python3 -m verl.trainer.main_ppo \
  algorithm.adv_estimator=gapo \
  algorithm.use_kl_in_reward=False \
  data.train_files="$data/train.parquet" \
  data.val_files="$data/val.parquet" \
  data.train_batch_size="${BATCH:-32}" \
  data.max_prompt_length="${PROMPT_TOKENS:-2048}" \
  data.max_response_length="${RESPONSE_TOKENS:-512}" \
  data.filter_overlong_prompts=True \
  data.truncation=left \
  actor_rollout_ref.model.path="$model" \
  actor_rollout_ref.model.lora_rank="${LORA_RANK:-16}" \
  actor_rollout_ref.model.lora_alpha="${LORA_ALPHA:-32}" \
  actor_rollout_ref.model.target_modules=all-linear \
  actor_rollout_ref.model.enable_gradient_checkpointing=True \
  actor_rollout_ref.actor.optim.lr="${LR:-1e-5}" \
  actor_rollout_ref.actor.ppo_mini_batch_size="${BATCH:-32}" \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8 \
  actor_rollout_ref.actor.clip_ratio_low=0.2 \
  actor_rollout_ref.actor.clip_ratio_high=0.28 \
  actor_rollout_ref.actor.loss_agg_mode=token-mean \
  actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.rollout.name=vllm \
  actor_rollout_ref.rollout.n="${GROUP:-8}" \
  actor_rollout_ref.rollout.load_format=safetensors \
  actor_rollout_ref.rollout.layered_summon=True \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8 \
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8 \
  custom_reward_function.path="$here/reward.py" \
  custom_reward_function.name=compute_score \
  trainer.critic_warmup=0 \
  trainer.logger='["console"]' \
  trainer.project_name=gapo-assistant \
  trainer.experiment_name=gapo-lora \
  trainer.n_gpus_per_node="${GPUS:-1}" \
  trainer.nnodes="${NNODES:-1}" \
  trainer.save_freq=20 \
  trainer.test_freq=5 \
  trainer.total_epochs="${EPOCHS:-3}" \
  "$@"
