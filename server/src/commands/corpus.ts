import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCorpus, findPythonLibs } from '../model-recipe/corpus';
import { writeCorpus } from '../model-recipe/corpus-files';
import { asUsageError, Command, UsageError } from './command';
import { positiveInteger } from './engine-options';

export const corpusCommand: Command = {
  name: 'corpus',
  summary: 'gathers the default model\'s training text (permissive npm sources, Python\'s stdlib, training episodes)',
  usage: `gapo corpus --out DIR [--node-modules DIR]... [--python-lib DIR]... [--episodes DIR] [--held-out-every N]

Reads the sources of every installed npm package whose licence is permissive, Python's
standard library (default: every /usr/lib/python3.X) and the code of the *.train.jsonl
episodes in --episodes (never *.test.jsonl). Drops minified, generated and duplicate files
and holds one file in N (default 50, by content hash) out for perplexity. Writes
DIR/train.jsonl, DIR/heldout.jsonl ({"source", "licence", "path", "text"} per line),
DIR/manifest.tsv (every file that went in) and DIR/summary.json.`,

  run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        'node-modules': { type: 'string', multiple: true },
        'python-lib': { type: 'string', multiple: true },
        episodes: { type: 'string' },
        'held-out-every': { type: 'string', default: '50' },
      },
      strict: true,
    });
    if (!values.out) throw new UsageError('missing --out DIR');
    const episodeFiles = values.episodes
      ? asUsageError(() => readdirSync(values.episodes!))
          .filter((name) => name.endsWith('.train.jsonl'))
          .sort()
          .map((name) => join(values.episodes!, name))
      : [];
    const corpus = buildCorpus({
      nodeModules: (values['node-modules'] ?? ['node_modules']).map((d) => resolve(d)),
      pythonLibs: values['python-lib'] ?? findPythonLibs(),
      episodeFiles,
      heldOutEvery: positiveInteger('--held-out-every', values['held-out-every']),
    });
    mkdirSync(values.out, { recursive: true });
    const summary = writeCorpus(corpus, values.out);
    writeFileSync(join(values.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    io.stderr(`corpus: ${summary.train.files} files (${(summary.train.bytes / 1e6).toFixed(1)} MB) to train on, ${summary.heldOut.files} held out; left out: ${JSON.stringify(corpus.rejected)}\n`);
    return 0;
  },
};
