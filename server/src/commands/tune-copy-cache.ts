import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Episode, readEpisodes } from '../edits/episode';
import { defaultPromptLimits } from '../edits/prompt';
import { formatOf } from '../edits/prompt-format';
import { seededRandom } from '../edits/text';
import type { CopyCacheSettings } from '../model/copy-cache';
import { editSequence, typedEpisode } from '../model-recipe/edit-data';
import { writeFileAtomic } from '../util/atomic-write';
import { asUsageError, Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, modelDirOrBundled, positiveInteger } from './engine-options';
import { ProgressBar } from './progress';

const THETAS = [0.03, 0.05, 0.1, 0.2, 0.3];
const LAMBDAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

export const tuneCopyCacheCommand: Command = {
  name: 'tune-copy-cache',
  summary: 'choose the copy cache\'s θ and λ for a model on training episodes (and write them into its config.json)',
  usage: `gapo tune-copy-cache [--model DIR] --episodes FILE.jsonl... [--per-file 60] [--write] [--json]

Scores the answers of edit prompts built from the episodes as the server asks (each episode
as typed up to its cursor, ${defaultPromptLimits.contextLines} context lines, ${defaultPromptLimits.historyDiffs} recent edits, the model's prompt
format) under the model alone and under the model mixed with its copy cache for θ in
{${THETAS.join(', ')}} and λ in {${LAMBDAS.join(', ')}}, and prints the loss per answer token
(nats) of each. The best pair has the lowest loss. --write stores it in the model's
config.json as gapo_copy_cache (the engine then serves, scores and trains with it). Give it
training episodes only: the test sets are for reporting.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...engineOptionSpecs, episodes: { type: 'string', multiple: true }, 'per-file': { type: 'string', default: '60' }, write: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
    const files = [...(values.episodes ?? []), ...positionals];
    if (files.length === 0) throw new UsageError('missing --episodes FILE.jsonl');
    const perFile = positiveInteger('--per-file', values['per-file']);
    const episodes = files.flatMap((file) => evenlySpaced(asUsageError(() => readEpisodes(file)), perFile));
    const engine = await loadEngine(values, io);
    try {
      const format = formatOf(engine.info.promptFormat);
      const random = seededRandom(1);
      const requests = episodes
        .map((episode) => editSequence(typedEpisode(episode, random), defaultPromptLimits, engine.tokenizer, { format, maxPromptTokens: engine.config.maxPositions - 192, maxCompletionTokens: 192 }))
        .filter((s) => s !== null)
        .map((s) => ({ ids: s.ids, start: s.promptLength }));
      if (requests.length === 0) throw new UsageError('no episode gives an answer in this model\'s prompt format');
      const tokens = requests.reduce((sum, r) => sum + r.ids.length - r.start, 0);
      const grid: (CopyCacheSettings | null)[] = [null, ...THETAS.flatMap((theta) => LAMBDAS.map((lambda) => ({ theta, lambda })))];
      const progress = new ProgressBar(grid.length, io.stderr);
      const results: { copyCache: CopyCacheSettings | null; loss: number }[] = [];
      for (const copyCache of grid) {
        const scores = await engine.score(requests, { copyCache });
        results.push({ copyCache, loss: -scores.reduce((sum, s) => sum + s.logprobs.reduce((a, b) => a + b, 0), 0) / tokens });
        progress.update(results.length, '');
      }
      progress.done();
      const best = results.reduce((a, b) => (b.loss < a.loss ? b : a));
      if (values.json) io.stdout(JSON.stringify({ episodes: requests.length, tokens, results, best }) + '\n');
      else {
        io.stdout(`${requests.length} answers, ${tokens} tokens (loss in nats per token)\n`);
        for (const r of results) io.stdout(`${r.copyCache ? `θ ${r.copyCache.theta} λ ${r.copyCache.lambda}` : 'model alone'}: ${r.loss.toFixed(4)}\n`);
        io.stdout(`best: ${best.copyCache ? `θ ${best.copyCache.theta} λ ${best.copyCache.lambda}` : 'the model alone'} (${best.loss.toFixed(4)})\n`);
      }
      if (values.write) {
        const file = join(modelDirOrBundled(values.model), 'config.json');
        const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        if (best.copyCache) config.gapo_copy_cache = best.copyCache;
        else delete config.gapo_copy_cache;
        writeFileAtomic(file, Buffer.from(JSON.stringify(config, null, 2) + '\n'));
        io.stderr(`wrote ${best.copyCache ? JSON.stringify(best.copyCache) : 'no copy cache'} into ${file}\n`);
      }
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

/** n episodes spread over the file (the whole span of its history, not only its start). */
function evenlySpaced(episodes: Episode[], n: number): Episode[] {
  if (episodes.length <= n) return episodes;
  return Array.from({ length: n }, (_, i) => episodes[Math.floor((i * episodes.length) / n)]);
}
