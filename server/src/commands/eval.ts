import { parseArgs } from 'node:util';
import { evaluateEpisodes } from '../gapo/evaluate';
import { Command, UsageError } from './command';
import { defaultPromptLimits } from '../edits/prompt';
import { FIM_MIN_PROBABILITY } from '../edits/prompt-format';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, optionalProbability, positiveInteger } from './engine-options';
import { ProgressBar } from './progress';
import { readEpisodes } from '../edits/episode';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'exact match and edit similarity of greedy rewrites on edit episodes',
  usage: `gapo eval --model DIR [--adapter DIR] --episodes FILE.jsonl [--limit N] [--max-tokens 256] [--min-probability P] [--json]

Answers each episode greedily in the model's prompt format (a rewritten region, or an
insertion at the cursor), and compares the resulting region with what the author wrote,
beside the baseline that leaves the region unchanged. An answer the format cannot use (a
rewrite not closed with the end marker) counts as unchanged: the editor would show nothing.
--min-probability is the suggestions' confidence gate (default: the prompt format's own, as the
server uses it: ${FIM_MIN_PROBABILITY} for insertions, none for rewrites).
With --json prints {"n", "exact_match", "edit_similarity", "finished", "baseline":
{"exact_match", "edit_similarity"}}.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...engineOptionSpecs, episodes: { type: 'string' }, limit: { type: 'string' }, 'max-tokens': { type: 'string', default: '256' }, 'min-probability': { type: 'string' }, json: { type: 'boolean', default: false } },
      strict: true,
    });
    if (!values.episodes) throw new UsageError('missing --episodes FILE.jsonl');
    let episodes;
    try {
      episodes = readEpisodes(values.episodes);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (values.limit !== undefined) episodes = episodes.slice(0, positiveInteger('--limit', values.limit));
    const engine = await loadEngine(values, io);
    try {
      const progress = new ProgressBar(episodes.length, io.stderr);
      const maxTokens = positiveInteger('--max-tokens', values['max-tokens']);
      const result = await evaluateEpisodes(engine, episodes, maxTokens, (done) => progress.update(done, ''), defaultPromptLimits, optionalProbability('--min-probability', values['min-probability']));
      progress.done();
      if (values.json) io.stdout(JSON.stringify(result) + '\n');
      else {
        const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
        io.stdout(
          `episodes: ${result.n}\n` +
            `model:     exact match ${pct(result.exact_match)}, edit similarity ${pct(result.edit_similarity)} (${pct(result.finished)} of answers usable, ${engine.info.promptFormat.name} prompts)\n` +
            `unchanged: exact match ${pct(result.baseline.exact_match)}, edit similarity ${pct(result.baseline.edit_similarity)}\n`,
        );
      }
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
