// The language server as an editor feels it: suggestion latency over real LSP (p50, p95),
// idle and while a training run goes on in the background, and how fast it takes in
// didChange events. Both latency sets are measured in one run, side by side.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseModelConfig } from '../../server/src/model/config';
import { initModel } from '../../server/src/model/init-model';
import { LspSession } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import { StatsRequest, StatusRequest, TrainNowRequest } from '../../server/src/protocol';
import { tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { table } from './timing';
import { readEpisodes } from '../../server/src/edits/episode';

const BENCH_DIR = join(repoRoot, '.bench-cache');

// Big enough that a suggestion costs real work on the CPU (about 3M parameters), small enough
// to train beside it on a laptop.
const SMALL = {
  architectures: ['Qwen2ForCausalLM'],
  vocab_size: 260,
  hidden_size: 256,
  intermediate_size: 704,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 2048,
  tie_word_embeddings: true,
};

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function suggestionLatencies(session: LspSession, docs: { uri: string; offset: number }[], count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const { uri, offset } = docs[i % docs.length];
    const start = performance.now();
    await session.inlineCompletion(uri, offset);
    times.push(performance.now() - start);
  }
  return times;
}

export async function benchServer(): Promise<void> {
  const modelDir = join(BENCH_DIR, 'model-server-small');
  if (!existsSync(join(modelDir, 'config.json'))) initModel(parseModelConfig(SMALL, 'small'), modelDir, { seed: 1 });
  const dataDir = join(tempDir('bench-server'), 'data');
  const session = await LspSession.start({
    cliPath,
    dataDir,
    modelDir,
    cacheDir: join(BENCH_DIR, 'weights'),
    initializationOptions: {
      capture: { settleMs: 60_000 },
      prompt: { contextLines: 8, historyDiffs: 2 },
      suggest: { maxTokens: 24 },
      training: { background: false, steps: 1000, group: 4, promptsPerStep: 4, maxTokens: 24, minHeldOut: 2, maxHeldOut: 2 },
    },
  });
  await session.waitForModel();

  // Ingest: single-character didChange events, then one request that queues behind them all.
  const ingestUri = pathToFileURL(join(dataDir, '..', 'ingest.ts')).href;
  await session.open(ingestUri, 'const start = 1;\n'.repeat(200));
  const events = 5000;
  const ingestStart = performance.now();
  for (let i = 0; i < events; i++) await session.edit(ingestUri, 17 * (i % 200), 17 * (i % 200), i % 40 === 39 ? '\n' : 'x');
  await session.request(StatusRequest);
  const ingestRate = events / ((performance.now() - ingestStart) / 1000);
  await session.close(ingestUri);

  // Episodes for training, captured the normal way.
  const history = readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'));
  const train = history.slice(0, 24);
  await replayEpisodes(session, train, { noise: 0, seed: 1, typingChunk: 4, root: join(dataDir, '..', 'repo') });

  // Documents to ask for suggestions in, left open.
  const docs = history.slice(-10);
  const open: { uri: string; offset: number }[] = [];
  for (const [i, e] of docs.entries()) {
    const uri = pathToFileURL(join(dataDir, '..', 'open', `${i}-${e.path}`)).href;
    await session.open(uri, e.prefix + e.region + e.suffix, e.language);
    open.push({ uri, offset: e.prefix.length + e.cursor });
  }
  await suggestionLatencies(session, open, 5); // warm-up
  const idle = await suggestionLatencies(session, open, 40);

  const training = session.request(TrainNowRequest).catch((error: Error) => error);
  // Measure once the run is past loading and evaluating, in its GAPO steps.
  for (let i = 0; i < 600; i++) {
    const stats = await session.request(StatsRequest, undefined);
    if (stats.steps.length >= 1) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const duringTraining = await suggestionLatencies(session, open, 40);
  const stillTraining = (await session.request(StatusRequest)).training.state === 'training';
  await session.kill();
  await training;

  table([
    { condition: 'idle', requests: idle.length, 'p50 ms': percentile(idle, 50).toFixed(1), 'p95 ms': percentile(idle, 95).toFixed(1) },
    { condition: 'training in the background', requests: duringTraining.length, 'p50 ms': percentile(duringTraining, 50).toFixed(1), 'p95 ms': percentile(duringTraining, 95).toFixed(1) },
  ]);
  const ratio = percentile(duringTraining, 95) / percentile(idle, 95);
  console.log(`\np95 while training / p95 idle: ${ratio.toFixed(2)}× (aim ≤ 1.5×)${stillTraining ? '' : ' — WARNING: the run ended before the measurement did'}`);
  console.log(`didChange ingest: ${Math.round(ingestRate)} events/s (${events} single-character edits, then one request queued behind them)`);
  console.log(`model: ${SMALL.num_hidden_layers} layers × ${SMALL.hidden_size}, byte tokenizer; 24-token rewrites, prompts cut to 8 context lines and 2 recent edits`);
}
