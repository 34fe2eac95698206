// Next-token training data: the corpus tokenized into one stream (files end with the end-of-
// text token), cut into windows, visited in a seeded shuffled order. Step k's batch is windows
// k·B … k·B + B − 1 of that order (wrapping into the next epoch), so resuming needs only k.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { TextTokenizer } from '../model/tokenizer';
import { seededRandom, shuffled } from '../edits/text';
import type { TrainingSequence } from '../trainer/trainer';
import type { CorpusFile } from './corpus';
import type { TrainingData } from './cross-entropy-run';

/** The files' tokens, each file followed by `endOfText`; cached in `cacheFile` when given. */
export function tokenStream(files: CorpusFile[], tokenizer: TextTokenizer, endOfText: number, cacheFile?: string): Uint16Array {
  if (tokenizer.vocabSize > 65536) throw new RangeError('token streams are stored as 16-bit ids');
  if (cacheFile && existsSync(cacheFile)) {
    const bytes = readFileSync(cacheFile);
    return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  }
  const parts = files.map((f) => tokenizer.encode(f.text));
  const stream = new Uint16Array(parts.reduce((sum, p) => sum + p.length + 1, 0));
  let at = 0;
  for (const ids of parts) {
    stream.set(ids, at);
    at += ids.length;
    stream[at++] = endOfText;
  }
  if (cacheFile) writeFileSync(cacheFile, stream);
  return stream;
}

export function languageModelData(train: Uint16Array, heldOut: Uint16Array, options: { sequenceLength: number; batchSize: number; heldOutSequences: number; seed: number }): TrainingData & { windows: number } {
  const n = options.sequenceLength;
  const windows = Math.floor(train.length / n);
  if (windows < options.batchSize) throw new RangeError(`the corpus has ${windows} windows of ${n} tokens, fewer than a batch`);
  const order = shuffled(Array.from({ length: windows }, (_, i) => i), seededRandom(options.seed));
  const window = (stream: Uint16Array, i: number): TrainingSequence => ({ ids: Array.from(stream.subarray(i * n, (i + 1) * n)), promptLength: 1 });
  const heldOutWindows = Math.min(options.heldOutSequences, Math.floor(heldOut.length / n));
  return {
    windows,
    batch: (step) => Array.from({ length: options.batchSize }, (_, i) => window(train, order[(step * options.batchSize + i) % windows])),
    heldOut: Array.from({ length: heldOutWindows }, (_, i) => window(heldOut, i)),
  };
}
