// The GPU check (scripts/gpu-check.sh runs it on a machine with CUDA): the same model on the
// CPU and on CUDA, side by side in one process, alternating: prefill and decode tokens/s, and
// the largest difference between the two providers' log-probabilities of the same tokens.
// Models: the bundled default one and a random model with Qwen2.5-0.5B's shapes made here.
// Prints a table, and JSON to $OUT/gpu-check.json when OUT is set.

import '../../server/src/no-telemetry'; // first: before anything can load ONNX Runtime
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../../server/src/edits/text';
import { parseModelConfig } from '../../server/src/model/config';
import { Engine } from '../../server/src/model/engine';
import { initModel } from '../../server/src/model/init-model';
import { presets } from '../../server/src/model/presets';
import { repoRoot } from '../helpers/paths';
import { median, table } from './timing';

const PROMPT = 512;
const DECODE = 32;
const ROUNDS = 3;

interface Row {
  model: string;
  provider: string;
  ranOn: string;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
}

async function measure(modelDir: string, provider: 'cpu' | 'cuda', ids: number[], cacheDir: string): Promise<{ ranOn: string; prefill: number; decode: number; logprobs: number[] }> {
  const engine = await Engine.load({ modelDir, provider, cacheDir, log: (m) => console.error(`  ${m}`) });
  try {
    await engine.generate(ids.slice(0, 16), { maxTokens: 2, temperature: 0 }); // warm-up
    engine.clearPrefixCache(); // the whole prompt is new
    let start = performance.now();
    await engine.prefill(ids);
    const prefill = (performance.now() - start) / 1000;
    // Decode: DECODE steps after a 16-token prompt, one token fed per step.
    let step = await engine.prefill(ids.slice(0, 16), DECODE);
    start = performance.now();
    for (let i = 0; i < DECODE; i++) step = await engine.runDecoder([[ids[16 + i]]], step.cache);
    const decode = (performance.now() - start) / 1000;
    const [score] = await engine.score([{ ids, start: 1 }]);
    return { ranOn: engine.info.provider, prefill: ids.length / prefill, decode: DECODE / decode, logprobs: score.logprobs };
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  const halfBillion = mkdtempSync(join(tmpdir(), 'gapo-gpu-0.5b-'));
  initModel(parseModelConfig(presets['qwen2.5-0.5b'], 'qwen2.5-0.5b'), halfBillion, { seed: 1 });
  const cacheDir = mkdtempSync(join(tmpdir(), 'gapo-gpu-cache-'));
  const rows: Row[] = [];
  const differences: Record<string, number> = {};
  for (const [name, modelDir] of [['default model', join(repoRoot, 'models', 'default')], ['qwen2.5-0.5b shape', halfBillion]]) {
    const random = seededRandom(3);
    const ids = Array.from({ length: PROMPT }, () => 3 + Math.floor(random() * 250));
    const runs: Record<string, Awaited<ReturnType<typeof measure>>[]> = { cpu: [], cuda: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const provider of ['cpu', 'cuda'] as const) runs[provider].push(await measure(modelDir, provider, ids, cacheDir));
    }
    for (const provider of ['cpu', 'cuda'] as const) {
      rows.push({ model: name, provider, ranOn: runs[provider][0].ranOn, prefillTokensPerS: median(runs[provider].map((r) => r.prefill)), decodeTokensPerS: median(runs[provider].map((r) => r.decode)) });
    }
    const cpu = runs.cpu[0].logprobs;
    differences[name] = Math.max(...runs.cuda[0].logprobs.map((l, i) => Math.abs(l - cpu[i])));
  }
  console.log(`prompt ${PROMPT} tokens, ${DECODE} greedy tokens; medians of ${ROUNDS} alternating rounds\n`);
  table(rows.map((r) => ({ model: r.model, 'provider asked': r.provider, 'ran on': r.ranOn, 'prefill tok/s': r.prefillTokensPerS.toFixed(0), 'decode tok/s': r.decodeTokensPerS.toFixed(1) })));
  for (const [name, d] of Object.entries(differences)) console.log(`\n${name}: largest |log-prob CUDA − CPU| over ${PROMPT - 1} tokens: ${d.toExponential(2)}`);
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'gpu-check.json'), JSON.stringify({ rows, differences }, null, 1) + '\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
