// Model engine benchmark: speed of each model beside the machine's own limits, measured in the
// same run. Each model runs in a child process so that its peak RSS is its own.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from '../../server/src/model/ort';
import { GraphBuilder } from '../../server/src/onnx/graph';
import { Engine } from '../../server/src/model/engine';
import { selectRows } from '../../server/src/model/kv-cache';
import { argmax } from '../../server/src/model/sampling';
import { initModel } from '../../server/src/model/init-model';
import { type ModelConfig, parseModelConfig } from '../../server/src/model/config';
import { presets } from '../../server/src/model/presets';
import { repoRoot } from '../helpers/paths';
import { median, peakRssMiB, table } from './timing';

const BENCH_DIR = join(repoRoot, '.bench-cache');
const MODELS = [
  { name: 'tiny', preset: 'tiny', tokenizer: 'bytes' as const },
  { name: 'qwen2.5-0.5b shape', preset: 'qwen2.5-0.5b', tokenizer: 'qwen' as const },
];

export interface Roofs {
  gflops: number;
  bandwidthGBs: number;
}

/** ORT's own large-MatMul throughput (compute roof) and a large reduction's read bandwidth. */
/**
 * A forward pass's FLOPs over `sequences` sequences of `length` tokens (`tokens` in all): 2 per
 * weight per token (the output layer at every position; the embedding's gather costs no
 * multiply) and causal attention's scores and mix. The achieved-GFLOP/s figures of the
 * benchmarks start from it.
 */
export function forwardFlops(config: ModelConfig, parameters: number, run: { tokens: number; sequences: number; length: number }): number {
  const embedding = config.vocabSize * config.hiddenSize;
  const matmulWeights = parameters - embedding * (config.tieWordEmbeddings ? 1 : 2) + embedding;
  const attention = 4 * config.numLayers * config.numHeads * config.headDim * ((run.length * (run.length + 1)) / 2) * run.sequences;
  return 2 * matmulWeights * run.tokens + attention;
}

export async function measureRoofs(threads: number): Promise<Roofs> {
  const options = { intraOpNumThreads: threads, logSeverityLevel: 3 as const };
  const n = 2048;
  const matmul = new GraphBuilder('roof-matmul');
  const a = matmul.input('a', 'float32', [n, n]);
  const b = matmul.constant(new Float32Array(n * n).fill(0.5), [n, n], 'float32', 'b');
  matmul.output(matmul.node('MatMul', [a, b]), 'y', 'float32', [n, n]);
  const mm = await ort.InferenceSession.create(matmul.toBytes(), options);
  const feeds = { a: new ort.Tensor('float32', new Float32Array(n * n).fill(0.25), [n, n]) };
  const mmMs = await bestOf(5, () => mm.run(feeds));

  // Read bandwidth as decode meets it: a GEMV streaming a 1 GiB weight (an initializer, so
  // pre-packed like the model's). It beat a 1 GiB ReduceSum (26 GB/s) and memcpy here.
  const k = 4096;
  const cols = 65536;
  const gemv = new GraphBuilder('roof-bandwidth');
  const v = gemv.input('v', 'float32', [1, k]);
  const w = gemv.constant(new Float32Array(k * cols).fill(0.001), [k, cols], 'float32', 'w');
  gemv.output(gemv.node('MatMul', [v, w]), 'y', 'float32', [1, cols]);
  const gv = await ort.InferenceSession.create(gemv.toBytes(), options);
  const vector = { v: new ort.Tensor('float32', new Float32Array(k).fill(1), [1, k]) };
  const gemvMs = await bestOf(7, () => gv.run(vector));
  await mm.release();
  await gv.release();
  return { gflops: (2 * n ** 3) / mmMs / 1e6, bandwidthGBs: (k * cols * 4) / gemvMs / 1e6 };
}

async function bestOf(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** Runs in the child: one model's figures as a JSON line on stdout. */
export async function benchOneModel(preset: string, tokenizer: 'bytes' | 'qwen', threads: number): Promise<void> {
  const modelDir = join(BENCH_DIR, `model-${preset}`);
  if (!existsSync(join(modelDir, 'config.json'))) {
    initModel(parseModelConfig(presets[preset], preset), modelDir, { seed: 1, tokenizer, dtype: 'BF16' });
  }
  const loadStart = performance.now();
  const engine = await Engine.load({ modelDir, cacheDir: join(BENCH_DIR, 'weights'), threads });
  const loadMs = performance.now() - loadStart;
  const { config, info } = engine;
  const vocab = config.vocabSize;
  const prompt = Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % Math.min(vocab, 256) + (vocab > 1000 ? 1000 : 0));

  // Prefill: 512 tokens, cold.
  const prefillTimes: number[] = [];
  for (let i = 0; i < 3; i++) {
    engine.clearPrefixCache();
    const start = performance.now();
    await engine.prefill(prompt);
    prefillTimes.push(performance.now() - start);
  }
  const prefillMs = median(prefillTimes);

  // Decode: the median time of one batch-1 decoder step (the median resists the noise of a
  // shared machine), after a 16-token prefill.
  const decodeSteps = preset === 'tiny' ? 128 : 24;
  engine.clearPrefixCache();
  let state = await engine.prefill(prompt.slice(0, 16));
  const stepTimes: number[] = [];
  for (let step = 0; step < decodeSteps; step++) {
    const token = argmax(state.logits);
    const t = performance.now();
    state = await engine.runDecoder([[token]], state.cache);
    stepTimes.push(performance.now() - t);
  }
  const decodeMs = median(stepTimes);

  // The same decode step with the cache's buffers roomier than they need be (as after a long
  // prompt): a step should cost what its new token costs, whatever the room. What is left
  // grows with it: GroupQueryAttention clears its present buffers, as big as the room, when
  // they are not the past ones (llama.ts). Alternating.
  const filled = state.cache;
  const room = { small: filled.length + 32, large: Math.min(config.maxPositions, 4096) };
  const roomTimes: Record<keyof typeof room, number[]> = { small: [], large: [] };
  for (let round = 0; round < 5; round++) {
    for (const key of ['small', 'large'] as const) {
      const cache = selectRows(filled, [0], config, room[key]);
      const t = performance.now();
      for (let step = 0; step < 8; step++) await engine.runDecoder([[prompt[step]]], { ...cache, length: filled.length + step });
      roomTimes[key].push((performance.now() - t) / 8);
    }
  }

  // A 24-token suggestion after a 512-token prompt: cold, then after the previous keystroke's
  // prompt (the same text but for its last 4 tokens).
  const suggestion = { maxTokens: 24, stop: [] };
  const coldTimes: number[] = [];
  const warmTimes: number[] = [];
  for (let i = 0; i < (preset === 'tiny' ? 9 : 3); i++) {
    engine.clearPrefixCache();
    let t = performance.now();
    await engine.generate(prompt, suggestion);
    coldTimes.push(performance.now() - t);
    const edited = [...prompt.slice(0, 508), ...prompt.slice(0, 4)];
    t = performance.now();
    await engine.generate(edited, suggestion);
    warmTimes.push(performance.now() - t);
  }

  const layerParams = info.parameters - config.vocabSize * config.hiddenSize * (config.tieWordEmbeddings ? 1 : 2);
  const headParams = config.vocabSize * config.hiddenSize;
  const attentionFlops = 4 * config.numLayers * config.numHeads * config.headDim * ((512 * 513) / 2);
  const prefillFlops = 2 * layerParams * 512 + 2 * headParams + attentionFlops;
  // Bytes one decode step reads: every layer weight and the output embedding, in float32.
  const decodeBytes = (layerParams + headParams) * 4;
  await engine.dispose();
  const peakRss = peakRssMiB();
  // The machine's limits, measured right after, in the same process (shared machines drift).
  const roofs = await measureRoofs(threads);
  console.log(
    JSON.stringify({
      ...roofs,
      parameters: info.parameters,
      loadMs,
      prefillTokensPerS: 512 / (prefillMs / 1000),
      prefillGflops: prefillFlops / prefillMs / 1e6,
      decodeTokensPerS: 1000 / decodeMs,
      decodeMs,
      decodeBytes,
      decodeRoomSmall: room.small,
      decodeRoomLarge: room.large,
      decodeSmallRoomMs: median(roomTimes.small),
      decodeLargeRoomMs: median(roomTimes.large),
      suggestionColdMs: median(coldTimes),
      suggestionReusedMs: median(warmTimes),
      peakRssMiB: peakRss,
    }),
  );
}

export async function benchEngine(): Promise<void> {
  const threads = Number(process.env.GAPO_BENCH_THREADS) || undefined;
  const results: [string, Record<string, number>][] = [];
  for (const model of MODELS) {
    const child = spawnSync(process.execPath, [process.argv[1], '--engine-model', model.preset, model.tokenizer, String(threads ?? 0)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !line.startsWith('{')) {
      console.log(`${model.name}: failed\n${child.stderr}`);
      continue;
    }
    results.push([model.name, JSON.parse(line)]);
  }
  console.log('Roofs: ONNX Runtime MatMul 2048³ (compute) and a GEMV over a 1 GiB weight (read bandwidth),');
  console.log("measured in each model's process right after it. Decode: median decoder step, batch 1.\n");
  const rows = [];
  for (const [name, r] of results) {
    const roofMs = r.decodeBytes / (r.bandwidthGBs * 1e6);
    rows.push({
      model: name,
      params: `${(r.parameters / 1e6).toFixed(1)}M`,
      'load s': (r.loadMs / 1000).toFixed(1),
      'prefill tok/s': Math.round(r.prefillTokensPerS),
      'MatMul roof GFLOP/s': r.gflops.toFixed(0),
      'prefill % of roof': `${((100 * r.prefillGflops) / r.gflops).toFixed(0)}%`,
      'bandwidth GB/s': r.bandwidthGBs.toFixed(1),
      'decode tok/s': r.decodeTokensPerS.toFixed(1),
      'decode ms / bandwidth-roof ms': `${r.decodeMs.toFixed(2)} / ${roofMs.toFixed(2)} = ${(r.decodeMs / roofMs).toFixed(2)}×`,
      'decode ms, cache room large / small': `${r.decodeLargeRoomMs.toFixed(2)} (${r.decodeRoomLarge}) / ${r.decodeSmallRoomMs.toFixed(2)} (${r.decodeRoomSmall}) = ${(r.decodeLargeRoomMs / r.decodeSmallRoomMs).toFixed(2)}×`,
      '24 tok after 512, cold ms': r.suggestionColdMs.toFixed(0),
      'reused prefix ms': r.suggestionReusedMs.toFixed(0),
      'peak RSS MiB': Math.round(r.peakRssMiB),
    });
  }
  table(rows);
}
