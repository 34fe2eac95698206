// The engine beside llama.cpp, the peer users of local completion run: the same weights (the
// engine's model written by `gapo export-model` as GGUF, F16, Q8_0 and Q4_0), run through
// node-llama-cpp's prebuilt binaries offline. Every contender runs in a child process of its
// own (its peak RSS is its own), and the runs alternate contender by contender, round after
// round, so the drift of a shared machine falls on all of them alike. Medians over the rounds.
// Each of the engine's weight types is set against llama.cpp's like it: f32 against F16 (the
// closest llama.cpp runs), q8 against Q8_0, q4 against Q4_0 (the same blocks of 32).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../server/src/model/engine';
import { parseModelConfig, readModelConfig } from '../../server/src/model/config';
import { writeGguf, type GgufDType } from '../../server/src/model/gguf';
import { initModel } from '../../server/src/model/init-model';
import { presets } from '../../server/src/model/presets';
import { ModelWeights } from '../../server/src/model/weights';
import { loadLlamaCpp } from '../helpers/llama-cpp';
import { repoRoot } from '../helpers/paths';
import { median, peakRssMiB, table } from './timing';
import type { WeightDType } from '../../server/src/protocol';

const BENCH_DIR = join(repoRoot, '.bench-cache');
const PROMPT = 512;
const EDIT = 4;
const SUGGESTION = 24;

interface Figures {
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  coldMs: number;
  reusedMs: number;
  peakRssMiB: number;
}

type Contender = `engine ${WeightDType}` | `llama.cpp ${'f16' | 'q8_0' | 'q4_0'}`;
/** Each llama.cpp contender and the engine's like it. */
const PAIRS: [Contender, Contender][] = [
  ['engine f32', 'llama.cpp f16'],
  ['engine q8', 'llama.cpp q8_0'],
  ['engine q4', 'llama.cpp q4_0'],
];
/** GAPO_BENCH_WEIGHTS=q8,q4 runs only those pairs (default: all three). */
const CONTENDERS: Contender[] = PAIRS.filter(([engine]) => !process.env.GAPO_BENCH_WEIGHTS || process.env.GAPO_BENCH_WEIGHTS.split(',').includes(engine.slice('engine '.length))).flat();

function promptIds(vocab: number): number[] {
  return Array.from({ length: PROMPT }, (_, i) => ((i * 7919 + 13) % Math.min(vocab, 256)) + (vocab > 1000 ? 1000 : 0));
}

/** The previous keystroke's prompt but for its last tokens: what an editor sends next. */
const edited = (prompt: number[]) => [...prompt.slice(0, PROMPT - EDIT), ...prompt.slice(0, EDIT)];


/** Runs in a child: one contender's figures as a JSON line. */
export async function benchPeerRun(contender: Contender, modelDir: string, ggufDir: string, threads: number): Promise<void> {
  const config = readModelConfig(modelDir);
  const prompt = promptIds(config.vocabSize);
  let figures: Figures;
  if (contender.startsWith('engine ')) {
    const dtype = contender.slice('engine '.length) as WeightDType;
    const engine = await Engine.load({ modelDir, cacheDir: join(BENCH_DIR, 'weights'), threads: threads || undefined, dtype });
    engine.clearPrefixCache();
    let t = performance.now();
    await engine.prefill(prompt);
    const prefillMs = performance.now() - t;
    engine.clearPrefixCache();
    t = performance.now();
    await engine.generate(prompt, { maxTokens: SUGGESTION });
    const coldMs = performance.now() - t;
    t = performance.now();
    await engine.generate(edited(prompt), { maxTokens: SUGGESTION });
    const reusedMs = performance.now() - t;
    // Decode: all of the prompt but its last token kept, then the suggestion, whose decoder
    // runs each take one token (the last prompt token's, then each generated one but the last).
    engine.clearPrefixCache();
    await engine.prefill(prompt.slice(0, -1));
    t = performance.now();
    const [decoded] = await engine.generate(prompt, { maxTokens: SUGGESTION });
    const decodeMs = performance.now() - t;
    figures = { prefillTokensPerS: PROMPT / (prefillMs / 1000), decodeTokensPerS: decoded.tokens.length / (decodeMs / 1000), coldMs, reusedMs, peakRssMiB: 0 };
    await engine.dispose();
  } else {
    const llama = await loadLlamaCpp();
    const file = ggufFile(ggufDir, contender.slice('llama.cpp '.length) as GgufDType);
    const model = await llama.loadModel({ modelPath: file });
    // As many threads as the engine: the CPU's math cores (node-llama-cpp's default counts
    // hardware threads, and on this 2-core machine 4 threads made decoding ~30x slower).
    const context = await model.createContext({ contextSize: 1024, batchSize: PROMPT, threads: threads || llama.cpuMathCores });
    const sequence = context.getSequence();
    const generate = async (ids: number[]) => {
      let count = 0;
      for await (const _token of sequence.evaluate(ids, { temperature: 0 })) {
        if (++count === SUGGESTION) break;
      }
      return count;
    };
    let t = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const prefillMs = performance.now() - t;
    await sequence.clearHistory();
    t = performance.now();
    await generate(prompt);
    const coldMs = performance.now() - t;
    // The next keystroke: keep the common prefix in the KV cache, evaluate the rest.
    const next = edited(prompt);
    const kept = PROMPT - EDIT;
    t = performance.now();
    await sequence.eraseContextTokenRanges([{ start: kept, end: sequence.nextTokenIndex }]);
    await generate(next.slice(kept));
    const reusedMs = performance.now() - t;
    await sequence.clearHistory();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
    t = performance.now();
    const decoded = await generate(prompt.slice(-1));
    const decodeMs = performance.now() - t;
    figures = { prefillTokensPerS: PROMPT / (prefillMs / 1000), decodeTokensPerS: decoded / (decodeMs / 1000), coldMs, reusedMs, peakRssMiB: 0 };
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
  figures.peakRssMiB = peakRssMiB();
  console.log(JSON.stringify(figures));
}

function ggufFile(modelDir: string, dtype: GgufDType): string {
  return join(modelDir, `bench-${dtype}.gguf`);
}

export async function benchPeer(): Promise<void> {
  const threads = Number(process.env.GAPO_BENCH_THREADS) || 0;
  const big = join(BENCH_DIR, 'model-qwen2.5-0.5b');
  if (!existsSync(join(big, 'config.json'))) {
    mkdirSync(BENCH_DIR, { recursive: true });
    initModel(parseModelConfig(presets['qwen2.5-0.5b'], 'qwen2.5-0.5b'), big, { seed: 1, tokenizer: 'qwen', dtype: 'BF16' });
  }
  const defaultCopy = join(BENCH_DIR, 'model-default');
  const models = [
    { key: 'default', name: 'default model (3.1M)', dir: join(repoRoot, 'models', 'default'), gguf: defaultCopy, rounds: 5 },
    { key: 'qwen2.5-0.5b', name: 'qwen2.5-0.5b shape', dir: big, gguf: big, rounds: Number(process.env.GAPO_BENCH_ROUNDS) || 3 },
  ].filter((model) => !process.env.GAPO_BENCH_MODELS || process.env.GAPO_BENCH_MODELS.split(',').includes(model.key));
  console.log(`Alternating runs (${CONTENDERS.join(', ')}; repeated), each in its own process; medians.`);
  console.log(`Prompt ${PROMPT} tokens; a suggestion is ${SUGGESTION} greedy tokens; "reused": the prompt of the next keystroke (${PROMPT - EDIT} tokens kept in the KV cache).\n`);
  const rows = [];
  for (const model of models) {
    // The GGUF files sit beside the bench's own models (the shipped folder stays as it is).
    mkdirSync(model.gguf, { recursive: true });
    const config = readModelConfig(model.dir);
    for (const dtype of ['f16', 'q8_0', 'q4_0'] as const) {
      const file = ggufFile(model.gguf, dtype);
      if (!existsSync(file)) writeGguf(file, config, ModelWeights.open(model.dir, config), { dtype });
    }
    const runs = new Map<Contender, Figures[]>(CONTENDERS.map((c) => [c, []]));
    for (let round = 0; round < model.rounds; round++) {
      for (const contender of CONTENDERS) {
        const child = spawnSync(process.execPath, [process.argv[1], '--peer-run', contender, model.dir, model.gguf, String(threads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
        const line = child.stdout.trim().split('\n').pop() ?? '';
        if (child.status !== 0 || !line.startsWith('{')) throw new Error(`${contender} on ${model.name} failed:\n${child.stderr}`);
        runs.get(contender)!.push(JSON.parse(line));
      }
    }
    for (const contender of CONTENDERS) {
      const r = runs.get(contender)!;
      const m = (key: keyof Figures) => median(r.map((f) => f[key]));
      const pair = PAIRS.find(([, peer]) => peer === contender);
      // llama.cpp's advantage over the engine's like weights: above 1, llama.cpp is that many times faster (or leaner).
      const ratio = (key: keyof Figures, higherIsBetter = false) => {
        if (!pair) return '';
        const ours = median(runs.get(pair[0])!.map((f) => f[key]));
        return ` (${(higherIsBetter ? m(key) / ours : ours / m(key)).toFixed(2)}×)`;
      };
      rows.push({
        model: model.name,
        contender,
        'prefill tok/s': `${Math.round(m('prefillTokensPerS'))}${ratio('prefillTokensPerS', true)}`,
        'decode tok/s': `${m('decodeTokensPerS').toFixed(1)}${ratio('decodeTokensPerS', true)}`,
        'suggestion cold ms': `${Math.round(m('coldMs'))}${ratio('coldMs')}`,
        'prefix reused ms': `${Math.round(m('reusedMs'))}${ratio('reusedMs')}`,
        'peak RSS MiB': `${Math.round(m('peakRssMiB'))}${ratio('peakRssMiB')}`,
      });
    }
  }
  table(rows);
  console.log('\nDecode: a suggestion after all of the prompt but its last token was kept, its tokens per second (each decoder run takes one token; 0 where the model ended its answer at once).');
  console.log("(×): llama.cpp's advantage over the engine with like weights (F16: f32, Q8_0: q8, Q4_0: q4): above 1, llama.cpp is that many times faster (rates, times) or leaner (memory).");
}
