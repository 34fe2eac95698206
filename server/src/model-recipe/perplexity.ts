// Held-out perplexity of a model on corpus files it was not trained on: each file tokenized
// on its own and scored in windows (the first token of a window has no context and is not
// scored). Bits per byte are comparable across tokenizers; perplexity per token is not.

import type { Engine } from '../model/engine';
import type { CorpusFile } from './corpus';

export interface Perplexity {
  files: number;
  tokens: number;
  bytes: number;
  /** Mean negative log-likelihood per token, in nats. */
  loss: number;
  perplexity: number;
  bitsPerByte: number;
}

export async function heldOutPerplexity(engine: Engine, files: CorpusFile[], window: number, onProgress?: (done: number) => void): Promise<Perplexity> {
  let nats = 0;
  let tokens = 0;
  let bytes = 0;
  for (const [i, file] of files.entries()) {
    const ids = engine.tokenizer.encode(file.text);
    const requests = [];
    for (let start = 0; start + 1 < ids.length; start += window - 1) requests.push({ ids: ids.slice(start, start + window), start: 1 });
    for (const score of await engine.score(requests)) {
      for (const logprob of score.logprobs) nats -= logprob;
      tokens += score.logprobs.length;
    }
    bytes += Buffer.byteLength(file.text);
    onProgress?.(i + 1);
  }
  const loss = nats / tokens;
  return { files: files.length, tokens, bytes, loss, perplexity: Math.exp(loss), bitsPerByte: nats / Math.LN2 / bytes };
}
