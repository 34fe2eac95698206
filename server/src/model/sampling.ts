// Choosing the next token from logits: greedy, or temperature with top-k and top-p, driven by
// a seeded generator so that a seed reproduces a sample.

export interface SamplingOptions {
  /** 0 means greedy. */
  temperature: number;
  /** 0 means no top-k cut. */
  topK: number;
  /** 1 means no nucleus cut. */
  topP: number;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export function sampleToken(logits: Float32Array, options: SamplingOptions, random: () => number): number {
  if (options.temperature <= 0) return argmax(logits);
  let candidates = options.topK > 0 && options.topK < logits.length ? topKIndices(logits, options.topK) : null;
  const count = candidates ? candidates.length : logits.length;
  const at = (j: number) => (candidates ? candidates[j] : j);

  let max = -Infinity;
  for (let j = 0; j < count; j++) max = Math.max(max, logits[at(j)]);
  const probs = new Float64Array(count);
  let total = 0;
  for (let j = 0; j < count; j++) {
    probs[j] = Math.exp((logits[at(j)] - max) / options.temperature);
    total += probs[j];
  }
  for (let j = 0; j < count; j++) probs[j] /= total;

  if (options.topP < 1) {
    // Tokens below ε = (1 − p) / (2·count) hold less than 1 − p of the mass together, so the
    // nucleus lies among the rest: sort only those.
    const floor = (1 - options.topP) / (2 * count);
    const kept: number[] = [];
    for (let j = 0; j < count; j++) if (probs[j] >= floor) kept.push(j);
    kept.sort((a, b) => probs[b] - probs[a]);
    let mass = 0;
    let size = 0;
    while (size < kept.length && mass < options.topP) mass += probs[kept[size++]];
    const nucleus = kept.slice(0, Math.max(1, size));
    return at(drawFrom(nucleus, (j) => probs[j], random));
  }
  let r = random();
  for (let j = 0; j < count; j++) {
    r -= probs[j];
    if (r <= 0) return at(j);
  }
  return at(count - 1);
}

function drawFrom(items: number[], weight: (item: number) => number, random: () => number): number {
  let total = 0;
  for (const item of items) total += weight(item);
  let r = random() * total;
  for (const item of items) {
    r -= weight(item);
    if (r <= 0) return item;
  }
  return items[items.length - 1];
}

/** Indices of the k largest logits (any order), by a size-k min-heap: O(V log k). */
function topKIndices(logits: Float32Array, k: number): number[] {
  const heap: number[] = [];
  const less = (a: number, b: number) => logits[a] < logits[b];
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = 0; i < logits.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0; ) {
        const parent = (c - 1) >> 1;
        if (!less(heap[c], heap[parent])) break;
        [heap[c], heap[parent]] = [heap[parent], heap[c]];
        c = parent;
      }
    } else if (logits[i] > logits[heap[0]]) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap;
}
