import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { heldOutSize } from '../gapo/learner';
import { defaultTrainingSettings } from '../gapo/training-job';
import { defaultDataDir } from '../lsp/options';
import { exportEpisodes } from '../store/export';
import { Store } from '../store/store';
import { Command, UsageError } from './command';

export const exportCommand: Command = {
  name: 'export',
  summary: 'export collected episodes as JSONL (shared schema) or verl Parquet',
  usage: `gapo export --format jsonl|verl --out PATH [--val PATH] [--data DIR]

jsonl: one episode per line in the schema of shared/data/edits (id, source, date, language,
       path, history, prefix, region, suffix, cursor, target).
verl:  verl's RL dataset layout as Parquet: data_source, prompt (chat messages), ability,
       reward_model {style, ground_truth}, extra_info {split, index, id, path, language, source},
       for training a bigger model with verl-GAPO.
The store may be in use by a running server (SQLite's WAL lets both read).

  --val PATH   verl only: the most recent episodes, as many as the eval gate holds out, go to
               PATH (extra_info.split "test", verl's data.val_files), the rest to --out ("train")
  --data DIR   the server's data folder (default ${defaultDataDir()})`,

  run(args, io) {
    const { values } = parseArgs({ args, options: { format: { type: 'string', default: 'jsonl' }, out: { type: 'string' }, val: { type: 'string' }, data: { type: 'string' } }, strict: true });
    if (values.format !== 'jsonl' && values.format !== 'verl') throw new UsageError(`--format must be jsonl or verl, got ${values.format}`);
    if (!values.out) throw new UsageError('missing --out PATH');
    if (values.val !== undefined && values.format !== 'verl') throw new UsageError('--val is for --format verl');
    const store = Store.open(join(resolve(values.data ?? defaultDataDir()), 'gapo.db'), (message) => io.stderr(`${message}\n`));
    try {
      const episodes = store.episodes();
      if (values.val === undefined) {
        exportEpisodes(episodes, values.format, resolve(values.out));
        io.stderr(`wrote ${episodes.length} episodes to ${resolve(values.out)} (${values.format})\n`);
      } else {
        // Oldest first: the held-out ones are the most recent, as the eval gate holds them out.
        const heldOut = heldOutSize(episodes.length, defaultTrainingSettings);
        if (episodes.length < heldOut + 1) throw new UsageError(`${episodes.length} episodes collected: too few to hold ${heldOut} out and train on the rest`);
        exportEpisodes(episodes.slice(0, episodes.length - heldOut), 'verl', resolve(values.out), 'train');
        exportEpisodes(episodes.slice(episodes.length - heldOut), 'verl', resolve(values.val), 'test');
        io.stderr(`wrote ${episodes.length - heldOut} episodes to ${resolve(values.out)} and the ${heldOut} most recent to ${resolve(values.val)} (verl)\n`);
      }
    } finally {
      store.close();
    }
    return 0;
  },
};
