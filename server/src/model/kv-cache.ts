// The key/value cache of the decoder: per layer, [batch, kv heads, capacity, head dim] floats of
// which the first `length` positions hold keys and values. The decoder reads them in place and
// returns only each step's new positions, which are written after the filled ones (writeStep),
// so a step costs what its new tokens cost; the buffers are copied only to grow, or to tile one
// prompt to G rows. Cutting a reused prefix is only a shorter `length`.

import type { ModelConfig } from './config';

/** Keys and values of every layer, each [batch, kv heads, capacity, head dim]. */
export interface KvCache {
  batch: number;
  /** Positions filled. */
  length: number;
  /** Positions each buffer has room for. */
  capacity: number;
  keys: Float32Array[];
  values: Float32Array[];
}

export function emptyCache(config: ModelConfig, batch: number): KvCache {
  const none = () => Array.from({ length: config.numLayers }, () => new Float32Array(0));
  return { batch, length: 0, capacity: 0, keys: none(), values: none() };
}

/** Capacities grow in steps of this many positions, so a decode loop reallocates rarely. */
const CAPACITY_STEP = 256;

/**
 * The cache with room for `needed` positions (at most the model's): itself when it has it,
 * else a copy into buffers a step larger. Rows and filled positions are kept.
 */
export function withCapacity(cache: KvCache, needed: number, config: ModelConfig): KvCache {
  if (needed <= cache.capacity) return cache;
  const capacity = Math.min(config.maxPositions, Math.max(needed, Math.ceil((needed + CAPACITY_STEP / 4) / CAPACITY_STEP) * CAPACITY_STEP));
  if (needed > capacity) throw new Error(`${needed} positions exceed the model's ${config.maxPositions}`);
  return copyRows(cache, Array.from({ length: cache.batch }, (_, row) => row), capacity, config);
}

/** The cache's rows in the given order (rows may repeat: tiling one prompt to G samples), with room for `capacity`. */
export function selectRows(cache: KvCache, rows: number[], config: ModelConfig, capacity = cache.capacity): KvCache {
  return copyRows(cache, rows, Math.max(capacity, cache.length), config);
}

function copyRows(cache: KvCache, rows: number[], capacity: number, config: ModelConfig): KvCache {
  const { numKvHeads: heads, headDim } = config;
  const filled = cache.length * headDim;
  const copy = (tensor: Float32Array) => {
    const out = new Float32Array(rows.length * heads * capacity * headDim);
    rows.forEach((row, i) => {
      for (let h = 0; h < heads; h++) {
        const from = (row * heads + h) * cache.capacity * headDim;
        out.set(tensor.subarray(from, from + filled), (i * heads + h) * capacity * headDim);
      }
    });
    return out;
  };
  return { batch: rows.length, length: cache.length, capacity, keys: cache.keys.map(copy), values: cache.values.map(copy) };
}

/**
 * Writes one layer's keys and values of `seq` new positions ([batch, seq, kv heads · head dim],
 * as the decoder returns them) into the cache's buffers after its `length` filled positions.
 */
export function writeStep(cache: KvCache, layer: number, keys: Float32Array, values: Float32Array, seq: number, config: ModelConfig): void {
  const { numKvHeads: heads, headDim } = config;
  if (cache.length + seq > cache.capacity) throw new Error(`${cache.length + seq} positions exceed the cache's room for ${cache.capacity}`);
  for (let row = 0; row < cache.batch; row++) {
    for (let s = 0; s < seq; s++) {
      for (let h = 0; h < heads; h++) {
        const from = ((row * seq + s) * heads + h) * headDim;
        const to = ((row * heads + h) * cache.capacity + cache.length + s) * headDim;
        cache.keys[layer].set(keys.subarray(from, from + headDim), to);
        cache.values[layer].set(values.subarray(from, from + headDim), to);
      }
    }
  }
}

/** The first `length` positions of a cache: the same buffers (the next step overwrites what follows). */
export function truncateCache(cache: KvCache, length: number): KvCache {
  if (length > cache.length) throw new Error(`cannot keep ${length} of ${cache.length} cached positions`);
  return { ...cache, length };
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
