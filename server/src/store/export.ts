// Exporting collected episodes: JSONL in the shared schema (shared/data/edits/README.md), or
// verl's RL dataset layout as Parquet (prompt as chat messages, reward_model.ground_truth,
// data_source, extra_info) so a bigger model can be trained with verl-GAPO on a cluster.

import { parquetWriteBuffer } from 'hyparquet-writer';
import { writeFileAtomic } from '../util/atomic-write';
import { editPrompt } from '../edits/prompt';
import type { Episode } from '../edits/episode';
import type { ExportFormat } from '../protocol';

export const VERL_DATA_SOURCE = 'gapo-assistant/edits';

/** The shared schema's fields, in its order. */
export function episodeRecord(e: Episode): Record<string, unknown> {
  return {
    id: e.id,
    source: e.source ?? 'lsp',
    date: e.date ?? null,
    language: e.language,
    path: e.path,
    history: e.history,
    prefix: e.prefix,
    region: e.region,
    suffix: e.suffix,
    cursor: e.cursor,
    target: e.target,
  };
}

/** `split`: what verl's rows say in extra_info.split (its training files, or its validation ones). */
export function exportEpisodes(episodes: Episode[], format: ExportFormat, out: string, split: VerlSplit = 'train'): void {
  if (format === 'jsonl') writeFileAtomic(out, episodes.map((e) => Buffer.from(JSON.stringify(episodeRecord(e)) + '\n')));
  else writeFileAtomic(out, new Uint8Array(verlParquet(episodes, split)));
}

export type VerlSplit = 'train' | 'test';

/** verl's layout (examples/data_preprocess in verl): one row per prompt. */
export function verlParquet(episodes: Episode[], split: VerlSplit = 'train'): ArrayBuffer {
  const required = 'REQUIRED' as const;
  const string = (name: string) => ({ name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: required });
  return parquetWriteBuffer({
    schema: [
      { name: 'root', num_children: 5 },
      string('data_source'),
      { name: 'prompt', repetition_type: required, converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', repetition_type: required, num_children: 2 },
      string('role'),
      string('content'),
      string('ability'),
      { name: 'reward_model', repetition_type: required, num_children: 2 },
      string('style'),
      string('ground_truth'),
      { name: 'extra_info', repetition_type: required, num_children: 6 },
      string('split'),
      { name: 'index', type: 'INT64', repetition_type: required },
      string('id'),
      string('path'),
      string('language'),
      string('source'),
    ],
    columnData: [
      { name: 'data_source', data: episodes.map(() => VERL_DATA_SOURCE) },
      { name: 'prompt', data: episodes.map((e) => [{ role: 'user', content: editPrompt(e) }]) },
      { name: 'ability', data: episodes.map(() => 'code-edit') },
      { name: 'reward_model', data: episodes.map((e) => ({ style: 'rule', ground_truth: e.target })) },
      {
        name: 'extra_info',
        data: episodes.map((e, index) => ({ split, index: BigInt(index), id: e.id, path: e.path, language: e.language, source: e.source ?? 'lsp' })),
      },
    ],
  });
}
