// One GAPO step (G = 8, 8 prompts, 256-token prompts, 32-token responses): rollout, scoring
// and update throughput, peak RSS, and the update's achieved GFLOP/s against ONNX Runtime's
// MatMul roof measured in the same process. Each model runs in a child process.
// `training-memory`: the same step on the 0.5B shape with each layer's activations kept or
// recomputed in the backward, and with or without ONNX Runtime's arena for the gradient session
// (without it, glibc keeps memory that ONNX Runtime's threads free), alternating.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../server/src/model/engine';
import { initModel } from '../../server/src/model/init-model';
import { parseModelConfig } from '../../server/src/model/config';
import { LoraAdapter } from '../../server/src/model/lora';
import { presets } from '../../server/src/model/presets';
import { computeAdvantages } from '../../server/src/gapo/advantages';
import { defaultAdamW } from '../../server/src/trainer/adamw';
import { defaultPolicyTrainer, PolicyTrainer, TrainingSequence } from '../../server/src/trainer/trainer';
import { repoRoot } from '../helpers/paths';
import { forwardFlops, measureRoofs } from './engine.bench';
import { median, peakRssMiB, table } from './timing';
import type { WeightDType } from '../../server/src/protocol';

const BENCH_DIR = join(repoRoot, '.bench-cache');
const MODELS = [
  { name: 'tiny', preset: 'tiny', tokenizer: 'bytes' as const, microBatch: 16, dtypes: ['f32'] as WeightDType[] },
  // q8: LoRA on the 8-bit base (QLoRA), rollout and scoring on it too.
  { name: 'qwen2.5-0.5b shape', preset: 'qwen2.5-0.5b', tokenizer: 'qwen' as const, microBatch: 2, dtypes: ['f32', 'q8'] as WeightDType[] },
];
const PROMPTS = 8;
const GROUP = 8;
const PROMPT_TOKENS = 256;
const RESPONSE_TOKENS = 32;

/** How the step holds its memory: the base weights' dtype (q8/q4: LoRA on a quantized base), activations recomputed per layer, ONNX Runtime's arena. */
export interface UpdateMemory {
  dtype: WeightDType;
  checkpointLayers: boolean;
  memoryArena: boolean;
}

const DEFAULT_MEMORY: UpdateMemory = { dtype: 'f32', checkpointLayers: defaultPolicyTrainer.checkpointLayers, memoryArena: defaultPolicyTrainer.memoryArena };

/** The bench model (made on first use), its engine in `memory.dtype`, a fresh rank-16 adapter and its trainer. */
async function loadForTraining(preset: string, tokenizer: 'bytes' | 'qwen', threads: number, microBatchSize: number, memory: UpdateMemory) {
  const modelDir = join(BENCH_DIR, `model-${preset}`);
  if (!existsSync(join(modelDir, 'config.json'))) initModel(parseModelConfig(presets[preset], preset), modelDir, { seed: 1, tokenizer, dtype: 'BF16' });
  const engine = await Engine.load({ modelDir, cacheDir: join(BENCH_DIR, 'weights'), threads, dtype: memory.dtype });
  const adapter = LoraAdapter.create(engine.config, { rank: 16, alpha: 32, seed: 1 });
  const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, {
    microBatchSize,
    memoryArena: memory.memoryArena,
    checkpointLayers: memory.checkpointLayers,
    optimizer: { ...defaultAdamW, learningRate: 1e-5 },
  });
  engine.setAdapter(adapter);
  return { engine, trainer, base: engine.config.vocabSize > 1000 ? 1000 : 0 };
}

/** Runs this bench in a child process (its own peak RSS) and returns its last line as JSON; null: it failed, and says why. */
function jsonFromChild<T>(label: string, args: string[]): T | null {
  const child = spawnSync(process.execPath, [process.argv[1], ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !line.startsWith('{')) {
    console.log(`${label}: failed\n${child.stderr}`);
    return null;
  }
  return JSON.parse(line) as T;
}

export async function benchOneTrainingStep(preset: string, tokenizer: 'bytes' | 'qwen', microBatch: number, threads: number, promptCount = PROMPTS, memory = DEFAULT_MEMORY): Promise<void> {
  const { engine, trainer, base } = await loadForTraining(preset, tokenizer, threads, microBatch, memory);
  const { config } = engine;
  const prompts = Array.from({ length: promptCount }, (_, p) => Array.from({ length: PROMPT_TOKENS }, (_, i) => base + ((p * 131 + i * 7) % 200)));

  // Rollout: G samples of exactly RESPONSE_TOKENS (no stop) per prompt.
  let start = performance.now();
  const sequences: TrainingSequence[] = [];
  for (const [p, prompt] of prompts.entries()) {
    const generations = await engine.generate(prompt, { samples: GROUP, maxTokens: RESPONSE_TOKENS, temperature: 1, seed: p });
    for (const g of generations) {
      const tokens = [...g.tokens, ...(g.eos ? [g.eos.token] : [])];
      sequences.push({ ids: [...prompt, ...tokens], promptLength: prompt.length, oldLogprobs: [...g.logprobs, ...(g.eos ? [g.eos.logprob] : [])] });
    }
  }
  const rolloutMs = performance.now() - start;
  const peakAfterRollout = peakRssMiB();
  const responseTokens = sequences.reduce((s, q) => s + q.ids.length - q.promptLength, 0);

  // Scoring: the reference log-probs a KL term needs (base model, full sequences).
  start = performance.now();
  await engine.score(sequences.map((s) => ({ ids: s.ids, start: s.promptLength })), { adapter: false });
  const scoringMs = performance.now() - start;
  const peakAfterScoring = peakRssMiB();
  const sequenceTokens = sequences.reduce((s, q) => s + q.ids.length, 0);

  const rewards = Array.from({ length: promptCount }, (_, p) => Array.from({ length: GROUP }, (_, i) => ((p * 7 + i * 3) % 10) / 10));
  computeAdvantages(rewards, 'gapo').flat().forEach((a, i) => (sequences[i].advantage = a));
  start = performance.now();
  const [metrics] = await trainer.train(sequences);
  const updateMs = performance.now() - start;
  if (metrics.skipped) throw new Error(`the update was skipped: ${metrics.reason}`);
  const peakRss = peakRssMiB();

  // Update FLOPs: the forward and the backward to activations (about as much again; LoRA needs
  // no base-weight gradients).
  const updateFlops = 2 * forwardFlops(config, engine.info.parameters, { tokens: sequenceTokens, sequences: sequences.length, length: PROMPT_TOKENS + RESPONSE_TOKENS });
  await engine.dispose();
  const roofs = await measureRoofs(threads);
  console.log(
    JSON.stringify({
      ...roofs,
      rolloutTokensPerS: responseTokens / (rolloutMs / 1000),
      scoringTokensPerS: sequenceTokens / (scoringMs / 1000),
      updateTokensPerS: sequenceTokens / (updateMs / 1000),
      updateGflops: updateFlops / updateMs / 1e6,
      rolloutS: rolloutMs / 1000,
      scoringS: scoringMs / 1000,
      updateS: updateMs / 1000,
      peakRssMiB: peakRss,
      peakAfterRolloutMiB: peakAfterRollout,
      peakAfterScoringMiB: peakAfterScoring,
    }),
  );
}

type StepFigures = Record<'rolloutTokensPerS' | 'scoringTokensPerS' | 'updateTokensPerS' | 'updateGflops' | 'gflops' | 'rolloutS' | 'scoringS' | 'updateS' | 'peakRssMiB' | 'peakAfterRolloutMiB' | 'peakAfterScoringMiB', number>;

/** One GAPO step in a child process (its own peak RSS, its own allocator settings); null: it failed, and says why. */
function stepInChild(model: (typeof MODELS)[number], threads: number, prompts = PROMPTS, memory = DEFAULT_MEMORY): StepFigures | null {
  return jsonFromChild<StepFigures>(model.name, ['--training-model', model.preset, model.tokenizer, String(model.microBatch), String(threads), String(prompts), JSON.stringify(memory)]);
}

export async function benchTraining(): Promise<void> {
  const threads = Number(process.env.GAPO_BENCH_THREADS) || 0;
  const only = process.env.GAPO_BENCH_MODELS?.split(',');
  const rows = [];
  for (const model of MODELS.filter((m) => !only || only.includes(m.preset))) {
    for (const dtype of model.dtypes) {
      const r = stepInChild(model, threads, PROMPTS, { ...DEFAULT_MEMORY, dtype });
      if (!r) continue;
      rows.push({
        model: `${model.name}, ${dtype}`,
        'rollout tok/s': r.rolloutTokensPerS.toFixed(1),
        'scoring tok/s': r.scoringTokensPerS.toFixed(0),
        'update tok/s': r.updateTokensPerS.toFixed(0),
        'update GFLOP/s': r.updateGflops.toFixed(1),
        'MatMul roof GFLOP/s': r.gflops.toFixed(0),
        'update % of roof': `${((100 * r.updateGflops) / r.gflops).toFixed(0)}%`,
        'rollout / scoring / update s': `${r.rolloutS.toFixed(1)} / ${r.scoringS.toFixed(1)} / ${r.updateS.toFixed(1)}`,
        'peak RSS MiB': Math.round(r.peakRssMiB),
      });
    }
  }
  console.log(`One GAPO step: ${PROMPTS} prompts × G = ${GROUP}, ${PROMPT_TOKENS}-token prompts, ${RESPONSE_TOKENS}-token responses, LoRA rank 16, each layer recomputed in the backward.`);
  console.log('Update FLOPs = 2 × forward (the backward to activations costs about a forward; no base-weight gradients; the recomputed forward is not counted).\n');
  table(rows);
}

/** The update's memory settings under test: as it was before checkpointing, and each lever on its own. */
const MEMORY_SETTINGS: { name: string; memory: UpdateMemory }[] = [
  { name: 'f32, activations kept, no arena (before)', memory: { dtype: 'f32', checkpointLayers: false, memoryArena: false } },
  { name: 'f32, layers recomputed, no arena', memory: { dtype: 'f32', checkpointLayers: true, memoryArena: false } },
  { name: 'f32, layers recomputed, arena (default)', memory: { dtype: 'f32', checkpointLayers: true, memoryArena: true } },
  { name: 'q8 base (QLoRA), layers recomputed, arena', memory: { dtype: 'q8', checkpointLayers: true, memoryArena: true } },
  { name: 'q4 base (QLoRA), layers recomputed, arena', memory: { dtype: 'q4', checkpointLayers: true, memoryArena: true } },
];

export async function benchTrainingMemory(): Promise<void> {
  const threads = Number(process.env.GAPO_BENCH_THREADS) || 0;
  const rounds = Number(process.env.GAPO_BENCH_ROUNDS) || 2;
  // Fewer prompts than a full step keep the section short; the update's peak is the micro-batch's, not the step's.
  const prompts = Number(process.env.GAPO_BENCH_PROMPTS) || 2;
  const model = MODELS.find((m) => m.preset === 'qwen2.5-0.5b')!;
  const runs = new Map(MEMORY_SETTINGS.map((a) => [a.name, [] as StepFigures[]]));
  for (let round = 0; round < rounds; round++) {
    for (const setting of MEMORY_SETTINGS) {
      const r = stepInChild(model, threads, prompts, setting.memory);
      if (r) runs.get(setting.name)!.push(r);
    }
  }
  console.log(`One GAPO step on the ${model.name}: ${prompts} prompts × G = ${GROUP}, ${PROMPT_TOKENS}-token prompts, ${RESPONSE_TOKENS}-token responses, rank 16, micro-batches of ${model.microBatch}; medians of ${rounds} alternating rounds.\n`);
  table(
    MEMORY_SETTINGS.filter((a) => runs.get(a.name)!.length).map((a) => {
      const r = runs.get(a.name)!;
      return {
        update: a.name,
        'peak RSS MiB': Math.round(median(r.map((x) => x.peakRssMiB))),
        'peak RSS per run': r.map((x) => Math.round(x.peakRssMiB)).join(', '),
        'peak after rollout / scoring MiB': `${Math.round(median(r.map((x) => x.peakAfterRolloutMiB)))} / ${Math.round(median(r.map((x) => x.peakAfterScoringMiB)))}`,
        'update tok/s': median(r.map((x) => x.updateTokensPerS)).toFixed(0),
        'update tok/s per run': r.map((x) => x.updateTokensPerS.toFixed(0)).join(', '),
      };
    }),
  );
}

/**
 * The update alone on `sequences` synthetic sequences of `promptTokens` + 32 tokens, on-policy
 * (old log-probs scored first), in one micro-batch: its wall time and peak RSS, as one JSON line.
 */
export async function benchUpdateOnly(preset: string, tokenizer: 'bytes' | 'qwen', sequences: number, promptTokens: number, memory: UpdateMemory): Promise<void> {
  const { engine, trainer, base } = await loadForTraining(preset, tokenizer, 0, sequences, memory);
  const raw = Array.from({ length: sequences }, (_, s) => ({
    ids: Array.from({ length: promptTokens + RESPONSE_TOKENS }, (_, i) => base + ((s * 131 + i * 7) % 200)),
    promptLength: promptTokens,
    advantage: (s % 3) - 1,
  }));
  const scores = await engine.score(raw.map((r) => ({ ids: r.ids, start: r.promptLength })));
  const start = performance.now();
  await trainer.train(raw.map((r, i) => ({ ...r, oldLogprobs: scores[i].logprobs })));
  console.log(JSON.stringify({ updateS: (performance.now() - start) / 1000, peakRssMiB: peakRssMiB() }));
  await engine.dispose();
}

/**
 * `training-length`: the update's cost per token at 250 and 1000 tokens per sequence (four
 * sequences of the tiny model, where attention is most of the work), before and now,
 * alternating. Attention's share grows linearly with length, so per token the cost may grow
 * up to 4x from 250 to 1000; more would mean something grows faster than the square.
 */
export async function benchTrainingLength(): Promise<void> {
  const rounds = Number(process.env.GAPO_BENCH_ROUNDS) || 3;
  const settings = [MEMORY_SETTINGS[0], MEMORY_SETTINGS[2]];
  const lengths = [250, 1000];
  const times = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const length of lengths) {
      for (const setting of settings) {
        const r = jsonFromChild<{ updateS: number }>(`${setting.name} at ${length} tokens`, ['--update-only', 'tiny', 'bytes', '4', String(length - RESPONSE_TOKENS), JSON.stringify(setting.memory)]);
        if (!r) return;
        const key = `${setting.name}@${length}`;
        times.set(key, [...(times.get(key) ?? []), r.updateS]);
      }
    }
  }
  console.log(`The update on four sequences of the tiny model in one micro-batch; medians of ${rounds} alternating rounds.\n`);
  table(
    settings.map((setting) => {
      const [short, long] = lengths.map((length) => median(times.get(`${setting.name}@${length}`)!));
      return {
        update: setting.name,
        '4 × 250 tokens ms': (short * 1000).toFixed(0),
        '4 × 1000 tokens ms': (long * 1000).toFixed(0),
        'cost per token, 1000 / 250': (long / 4 / short).toFixed(2),
      };
    }),
  );
}
