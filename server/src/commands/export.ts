import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDataDir } from '../lsp/options';
import { exportEpisodes } from '../store/export';
import { Store } from '../store/store';
import { Command, UsageError } from './command';

export const exportCommand: Command = {
  name: 'export',
  summary: 'export collected episodes as JSONL (shared schema) or verl Parquet',
  usage: `gapo export --format jsonl|verl --out PATH [--data DIR]

jsonl: one episode per line in the schema of shared/data/edits (id, source, date, language,
       path, history, prefix, region, suffix, cursor, target).
verl:  verl's RL dataset layout as Parquet: data_source, prompt (chat messages), ability,
       reward_model {style, ground_truth}, extra_info {split, index, id, path, language, source},
       for training a bigger model with verl-GAPO.
The store may be in use by a running server (SQLite's WAL lets both read).

  --data DIR   the server's data folder (default ${defaultDataDir()})`,

  run(args, io) {
    const { values } = parseArgs({ args, options: { format: { type: 'string', default: 'jsonl' }, out: { type: 'string' }, data: { type: 'string' } }, strict: true });
    if (values.format !== 'jsonl' && values.format !== 'verl') throw new UsageError(`--format must be jsonl or verl, got ${values.format}`);
    if (!values.out) throw new UsageError('missing --out PATH');
    const store = Store.open(join(resolve(values.data ?? defaultDataDir()), 'gapo.db'), (message) => io.stderr(`${message}\n`));
    try {
      const episodes = store.episodes();
      exportEpisodes(episodes, values.format, resolve(values.out));
      io.stderr(`wrote ${episodes.length} episodes to ${resolve(values.out)} (${values.format})\n`);
    } finally {
      store.close();
    }
    return 0;
  },
};
