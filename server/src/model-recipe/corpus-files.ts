// The corpus on disk: train.jsonl and heldout.jsonl (one file per line), the manifest of
// everything that went in, and readers for the training commands.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus, CorpusFile } from './corpus';

export interface CorpusSummary {
  train: { files: number; bytes: number };
  heldOut: { files: number; bytes: number };
  /** Files and bytes by source (npm package, Python, episodes of a repository), with licences. */
  sources: { source: string; licence: string; files: number; bytes: number }[];
  rejected: Record<string, number>;
}

export function writeCorpus(corpus: Corpus, dir: string): CorpusSummary {
  const lines = (files: CorpusFile[]) => files.map((f) => JSON.stringify(f)).join('\n') + '\n';
  writeFileSync(join(dir, 'train.jsonl'), lines(corpus.train));
  writeFileSync(join(dir, 'heldout.jsonl'), lines(corpus.heldOut));
  const manifest = [...corpus.train.map((f) => ['train', f] as const), ...corpus.heldOut.map((f) => ['held-out', f] as const)];
  writeFileSync(join(dir, 'manifest.tsv'), 'split\tsource\tlicence\tpath\tbytes\n' + manifest.map(([split, f]) => `${split}\t${f.source}\t${f.licence}\t${f.path}\t${f.text.length}`).join('\n') + '\n');
  const sources = new Map<string, { source: string; licence: string; files: number; bytes: number }>();
  for (const [, f] of manifest) {
    const entry = sources.get(f.source) ?? { source: f.source, licence: f.licence, files: 0, bytes: 0 };
    entry.files++;
    entry.bytes += f.text.length;
    sources.set(f.source, entry);
  }
  const size = (files: CorpusFile[]) => ({ files: files.length, bytes: files.reduce((sum, f) => sum + f.text.length, 0) });
  return { train: size(corpus.train), heldOut: size(corpus.heldOut), sources: [...sources.values()].sort((a, b) => b.bytes - a.bytes), rejected: corpus.rejected };
}

export class CorpusError extends Error {}

export function readCorpusFiles(file: string): CorpusFile[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CorpusError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? error}); gapo corpus --out DIR makes a corpus`);
  }
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line, i) => {
      let value: CorpusFile;
      try {
        value = JSON.parse(line);
      } catch {
        throw new CorpusError(`${file}:${i + 1}: not valid JSON`);
      }
      if (typeof value?.text !== 'string') throw new CorpusError(`${file}:${i + 1}: a corpus line needs "text"`);
      return value;
    });
}
