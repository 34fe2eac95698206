import { parseArgs } from 'node:util';
import { evaluateEpisodes } from '../rl/evaluate';
import { Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, positiveInteger } from './engine-options';
import { ProgressBar } from './progress';
import { readEpisodes } from '../edits/episode';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'exact match and edit similarity of greedy rewrites on edit episodes',
  usage: `gapo eval --model DIR [--adapter DIR] --episodes FILE.jsonl [--limit N] [--max-tokens 256] [--json]

Rewrites each episode's editable region greedily and compares it with what the author wrote,
beside the baseline that leaves the region unchanged. A rewrite the model does not close
with the end marker counts as unchanged (the editor would show nothing). With --json prints
{"n", "exact_match", "edit_similarity", "finished", "baseline": {"exact_match", "edit_similarity"}}.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...engineOptionSpecs, episodes: { type: 'string' }, limit: { type: 'string' }, 'max-tokens': { type: 'string', default: '256' }, json: { type: 'boolean', default: false } },
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
      const result = await evaluateEpisodes(engine, episodes, positiveInteger('--max-tokens', values['max-tokens']), (done) => progress.update(done, ''));
      progress.done();
      if (values.json) io.stdout(JSON.stringify(result) + '\n');
      else {
        const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
        io.stdout(
          `episodes: ${result.n}\n` +
            `model:     exact match ${pct(result.exact_match)}, edit similarity ${pct(result.edit_similarity)} (${pct(result.finished)} of rewrites finished)\n` +
            `unchanged: exact match ${pct(result.baseline.exact_match)}, edit similarity ${pct(result.baseline.edit_similarity)}\n`,
        );
      }
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
