import { parseArgs } from 'node:util';
import {
  computeAdvantages,
  defaultEstimatorOptions,
  groupStats,
  isEstimatorName,
  resolveOptions,
} from '../gapo/advantages';
import { RewardError } from '../gapo/reward';
import { Command, readAll, UsageError } from './command';

export const advantagesCommand: Command = {
  name: 'advantages',
  summary: 'compute per-rollout advantages for groups of rewards read from stdin',
  usage: `gapo advantages [--estimator gapo|grpo|drgrpo] [--tau ${defaultEstimatorOptions.tau}] [--q median|mean] [--no-scale]

Reads {"groups": [[r1, r2, ...], ...]} on stdin, one group of rollout rewards per prompt,
and prints {"advantages": [[...], ...], "stats": [...]}.

  --estimator NAME  gapo (default): reference point Q = median of the highest-density
                    interval; grpo: (r - mean) / (std + eps); drgrpo: r - mean
  --tau T           share of the group the interval holds, in (0, 1] (default ${defaultEstimatorOptions.tau})
  --q median|mean   GAPO's Q: the interval's median (default) or mean
  --no-scale        GAPO: do not divide by the RMS deviation from Q`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        estimator: { type: 'string', default: 'gapo' },
        tau: { type: 'string', default: String(defaultEstimatorOptions.tau) },
        q: { type: 'string', default: 'median' },
        'no-scale': { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!isEstimatorName(values.estimator)) {
      throw new UsageError(`unknown estimator "${values.estimator}" (choose gapo, grpo or drgrpo)`);
    }
    const tau = Number(values.tau);
    let options;
    try {
      options = resolveOptions({ tau, q: values.q as 'median' | 'mean', scale: !values['no-scale'] });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const groups = parseGroups(await readAll(io.stdin));
    try {
      const advantages = computeAdvantages(groups, values.estimator, options);
      const stats = groups.map((rewards) => groupStats(rewards, options));
      io.stdout(JSON.stringify({ advantages, stats }) + '\n');
    } catch (error) {
      if (error instanceof RewardError) throw new UsageError(error.message);
      throw error;
    }
    return 0;
  },
};

function parseGroups(text: string): number[][] {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`stdin is not valid JSON: ${(error as Error).message}`);
  }
  const groups = (input as { groups?: unknown } | null)?.groups;
  if (!Array.isArray(groups) || !groups.every(Array.isArray)) {
    throw new UsageError('expected {"groups": [[r1, r2, ...], ...]} on stdin');
  }
  return groups as number[][];
}
