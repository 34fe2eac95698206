// The key/value cache of the decoder: per layer, [batch, kv heads, length, head dim] floats,
// and the helpers the decode loop uses on it (tiling rows to G samples, cutting a reused
// prefix), with the position ids and causal mask that go with it.

import type { ModelConfig } from './config';

/** Keys and values of every layer, each [batch, kv heads, length, head dim]. */
export interface KvCache {
  batch: number;
  length: number;
  keys: Float32Array[];
  values: Float32Array[];
}

export function emptyCache(config: ModelConfig, batch: number): KvCache {
  return {
    batch,
    length: 0,
    keys: Array.from({ length: config.numLayers }, () => new Float32Array(0)),
    values: Array.from({ length: config.numLayers }, () => new Float32Array(0)),
  };
}

/** The cache's rows in the given order (rows may repeat: tiling one prompt to G samples). */
export function selectRows(cache: KvCache, rows: number[]): KvCache {
  const rowSize = cache.batch === 0 ? 0 : cache.keys[0].length / cache.batch;
  const pick = (tensor: Float32Array) => {
    const out = new Float32Array(rows.length * rowSize);
    rows.forEach((row, i) => out.set(tensor.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize));
    return out;
  };
  return { batch: rows.length, length: cache.length, keys: cache.keys.map(pick), values: cache.values.map(pick) };
}

/** The first `length` positions of a cache: [batch, heads, length, dim] → [batch, heads, kept, dim]. */
export function truncateCache(cache: KvCache, length: number, headDim: number): KvCache {
  const cut = (tensor: Float32Array) => {
    const blocks = tensor.length / (cache.length * headDim); // batch · heads
    const out = new Float32Array(blocks * length * headDim);
    for (let b = 0; b < blocks; b++) {
      const from = b * cache.length * headDim;
      out.set(tensor.subarray(from, from + length * headDim), b * length * headDim);
    }
    return out;
  };
  return { batch: cache.batch, length, keys: cache.keys.map(cut), values: cache.values.map(cut) };
}

export function positionIds(batch: number, seq: number, offset: number): BigInt64Array {
  const out = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) for (let s = 0; s < seq; s++) out[b * seq + s] = BigInt(offset + s);
  return out;
}

/** [batch, 1, seq, past + seq]: query s (absolute past + s) sees keys 0..past + s. */
export function causalMask(batch: number, seq: number, past: number): Uint8Array {
  const total = past + seq;
  const out = new Uint8Array(batch * seq * total);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) out.fill(1, (b * seq + s) * total, (b * seq + s) * total + past + s + 1);
  }
  return out;
}
