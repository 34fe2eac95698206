import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMetricName, MetricName, metrics } from '../gapo/reward';
import { Command, UsageError } from './command';

export const rewardCommand: Command = {
  name: 'reward',
  summary: 'score a predicted edit against the target with one metric, or all of them',
  usage: `gapo reward [--metric em|edit|edem|bleu|all] (--prediction TEXT | --prediction-file PATH)
                  (--target TEXT | --target-file PATH)

Prints the score, a number in [0, 1]; with --metric all, a JSON object of every metric.

  --metric NAME   em: exact match (white space stripped at both ends)
                  edit: 1 - Levenshtein distance / longer length
                  edem: mean of em and edit, the GAPO paper's reward (default)
                  bleu: sentence BLEU, white-space tokens, NLTK smoothing method 1
                  Line endings are normalised (CRLF = LF) before comparing.`,

  run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        metric: { type: 'string', default: 'edem' },
        prediction: { type: 'string' },
        'prediction-file': { type: 'string' },
        target: { type: 'string' },
        'target-file': { type: 'string' },
      },
      strict: true,
    });
    const prediction = textOrFile('prediction', values.prediction, values['prediction-file']);
    const target = textOrFile('target', values.target, values['target-file']);
    if (values.metric === 'all') {
      const scores = Object.fromEntries(
        (Object.keys(metrics) as MetricName[]).map((name) => [name, metrics[name](prediction, target)]),
      );
      io.stdout(JSON.stringify(scores) + '\n');
    } else if (isMetricName(values.metric)) {
      io.stdout(`${metrics[values.metric](prediction, target)}\n`);
    } else {
      throw new UsageError(`unknown metric "${values.metric}" (choose em, edit, edem, bleu or all)`);
    }
    return 0;
  },
};

function textOrFile(name: string, text: string | undefined, path: string | undefined): string {
  if (text !== undefined && path !== undefined) {
    throw new UsageError(`give --${name} or --${name}-file, not both`);
  }
  if (text !== undefined) return text;
  if (path === undefined) throw new UsageError(`missing --${name} TEXT or --${name}-file PATH`);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --${name}-file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}
