// What 8- and 4-bit weights cost in quality: the bundled default model answers the first
// episodes of every shared test set (never trained on) greedily in f32, q8 and q4, scored as
// `gapo eval` scores them, with the share of answers identical to f32's. Quality is
// deterministic, so no alternation; the time is printed only to see what it costs.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readEpisodes, type Episode } from '../../server/src/edits/episode';
import { Engine } from '../../server/src/model/engine';
import { WEIGHT_DTYPES } from '../../server/src/model/quantize';
import { evaluateEpisodes } from '../../server/src/gapo/evaluate';
import { repoRoot } from '../helpers/paths';
import { table } from './timing';

const SHARED_EPISODES = join(repoRoot, '..', 'shared', 'data', 'edits');
const MAX_TOKENS = 192; // as scripts/evaluate-default-model.sh

export async function benchQuantization(): Promise<void> {
  const modelDir = join(repoRoot, 'models', 'default');
  const limit = Number(process.env.GAPO_BENCH_QUALITY_LIMIT) || 30;
  if (!existsSync(SHARED_EPISODES)) {
    console.log(`no shared test episodes at ${SHARED_EPISODES}: skipped`);
    return;
  }
  const sets = readdirSync(SHARED_EPISODES).filter((f) => f.endsWith('.test.jsonl')).sort();
  const episodes: Episode[] = sets.flatMap((file) => readEpisodes(join(SHARED_EPISODES, file)).slice(0, limit));
  console.log(`The default model on the first ${limit} episodes of each of ${sets.length} test sets (${episodes.length} in all), greedy, up to ${MAX_TOKENS} tokens.\n`);
  const answers = new Map<string, string[]>();
  const rows = [];
  for (const dtype of WEIGHT_DTYPES) {
    const engine = await Engine.load({ modelDir, cacheDir: join(repoRoot, '.bench-cache', 'weights'), dtype });
    const predictions: string[] = [];
    const start = performance.now();
    const result = await evaluateEpisodes(engine, episodes, MAX_TOKENS, (_, prediction) => predictions.push(prediction));
    const seconds = (performance.now() - start) / 1000;
    await engine.dispose();
    answers.set(dtype, predictions);
    const f32 = answers.get('f32')!;
    const same = predictions.filter((p, i) => p === f32[i]).length / predictions.length;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    rows.push({ weights: dtype, 'exact match': pct(result.exact_match), 'edit similarity': pct(result.edit_similarity), usable: pct(result.finished), 'answers as f32': pct(same), 'eval s': seconds.toFixed(0) });
  }
  table(rows);
}
