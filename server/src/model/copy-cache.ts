// The copy mechanism of the policy: a continuous cache (Grave, Joulin, Usunier 2017, "Improving
// Neural Language Models with a Continuous Cache"). Real edits mostly reuse what is already on
// screen, and a small model does not learn to copy; the cache needs no training. At position t
// the next-token distribution is
//
//   p(v) = (1 − λ) · p_model(v) + λ · Σ_{i < t, x_{i+1} = v} softmax_i(θ · h_t · h_i)
//
// where h are the model's final (normed) hidden states and x the sequence's tokens: the tokens
// that followed positions whose states resemble the current one. At t = 0 there is nothing to
// copy and p is the model's alone. Serving (CopyHistory, in JavaScript), the scorer and the
// training graphs (copyCacheLogprobs, in ONNX) compute the same p, so the log-probability of a
// served sample is the trainer's and GAPO's ratio stays right. θ and λ live with the model,
// in its config.json (`gapo_copy_cache`), tuned on training episodes (`gapo tune-copy-cache`).

import { GraphBuilder, Value } from '../onnx/graph';
import * as ort from './ort';

export interface CopyCacheSettings {
  /** Inverse temperature of the similarity of hidden states. */
  theta: number;
  /** The cache's share of the mixture, in [0, 1). */
  lambda: number;
}

/** The graph inputs that carry θ and λ (so tuning them rebuilds nothing). */
export const COPY_CACHE_INPUTS = { theta: 'copy_theta', lambda: 'copy_lambda' } as const;

/** `gapo_copy_cache` of a config.json: absent is off; anything else must be well formed. */
export function parseCopyCache(raw: unknown, file: string): CopyCacheSettings | undefined {
  if (raw === undefined || raw === null) return undefined;
  const c = raw as Record<string, unknown>;
  const { theta, lambda } = c;
  if (typeof theta !== 'number' || !Number.isFinite(theta) || typeof lambda !== 'number' || !(lambda >= 0 && lambda < 1)) {
    throw new Error(`${file}: gapo_copy_cache must be {"theta": a finite number, "lambda": a number in [0, 1)}, got ${JSON.stringify(raw)}`);
  }
  return { theta, lambda };
}

/** θ and λ as the scorer's and training graphs' inputs (none where the model has no cache). */
export function copyCacheFeeds(settings: CopyCacheSettings | undefined): Record<string, ort.Tensor> {
  if (!settings) return {};
  return {
    [COPY_CACHE_INPUTS.theta]: new ort.Tensor('float32', Float32Array.of(settings.theta), []),
    [COPY_CACHE_INPUTS.lambda]: new ort.Tensor('float32', Float32Array.of(settings.lambda), []),
  };
}

/**
 * One sequence's tokens and final hidden states, as it decodes: what the cache copies from. The
 * prompt's part is shared between the G samples of one prompt; each sample appends its own.
 */
export class CopyHistory {
  private readonly ownIds: number[] = [];
  private own: Float32Array;
  private ownLength = 0;

  constructor(
    private readonly size: number,
    /** The prompt's states, [positions · size], and its tokens. */
    private readonly promptHidden: Float32Array,
    private readonly promptIds: readonly number[],
  ) {
    if (promptHidden.length !== promptIds.length * size) throw new RangeError(`${promptIds.length} prompt tokens but ${promptHidden.length / size} hidden states`);
    this.own = new Float32Array(size * 16);
  }

  get length(): number {
    return this.promptIds.length + this.ownLength;
  }

  /** A token decoded after the sequence, with the hidden state its position produced. */
  append(id: number, hidden: Float32Array): void {
    if (hidden.length !== this.size) throw new RangeError(`a hidden state has ${this.size} values, got ${hidden.length}`);
    if ((this.ownLength + 1) * this.size > this.own.length) {
      const grown = new Float32Array(this.own.length * 2);
      grown.set(this.own);
      this.own = grown;
    }
    this.own.set(hidden, this.ownLength * this.size);
    this.ownIds.push(id);
    this.ownLength++;
  }

  private id(i: number): number {
    return i < this.promptIds.length ? this.promptIds[i] : this.ownIds[i - this.promptIds.length];
  }

  private hidden(i: number): Float32Array {
    const p = this.promptIds.length;
    return i < p ? this.promptHidden.subarray(i * this.size, (i + 1) * this.size) : this.own.subarray((i - p) * this.size, (i - p + 1) * this.size);
  }

  /** The cache's distribution at the last position: token → probability (only tokens it can copy). */
  cacheDistribution(theta: number): Map<number, number> {
    const t = this.length - 1;
    const out = new Map<number, number>();
    if (t < 1) return out;
    const current = this.hidden(t);
    const scores = new Float64Array(t);
    let max = -Infinity;
    for (let i = 0; i < t; i++) {
      const h = this.hidden(i);
      let dot = 0;
      for (let k = 0; k < this.size; k++) dot += current[k] * h[k];
      scores[i] = theta * dot;
      if (scores[i] > max) max = scores[i];
    }
    let total = 0;
    for (let i = 0; i < t; i++) total += scores[i] = Math.exp(scores[i] - max);
    for (let i = 0; i < t; i++) {
      const next = this.id(i + 1);
      out.set(next, (out.get(next) ?? 0) + scores[i] / total);
    }
    return out;
  }

  /**
   * The mixed next-token log-probabilities at the last position, written into `out` (which may
   * be `logits` itself): the model's logits and their log Σ exp in, log p per token out (their
   * log Σ exp is 0). A token the cache cannot copy costs one subtraction.
   */
  mix(logits: Float32Array, logSumExp: number, settings: CopyCacheSettings, out: Float32Array): Float32Array {
    const cache = this.cacheDistribution(settings.theta);
    const lambda = cache.size > 0 ? settings.lambda : 0;
    const shift = logSumExp - Math.log1p(-lambda);
    for (let v = 0; v < logits.length; v++) out[v] = logits[v] - shift;
    for (const [v, c] of cache) out[v] = Math.log((1 - lambda) * Math.exp(logits[v] - logSumExp) + lambda * c);
    return out;
  }
}

/**
 * The same mixture in a graph, for the scorer and the training graphs: the log-probability of
 * each scored token under the mixture, from the model's own (`logprobs`, [M]) at the flat rows
 * `rows` ([M], indices into [batch · seq]) predicting `targets` ([M]). `hidden` is the flat
 * [batch · seq, size] final states and `ids` the [batch, seq] tokens (padding only at the end:
 * a position sees only earlier ones). Differentiable in `hidden` and `logprobs`.
 */
export function copyCacheLogprobs(g: GraphBuilder, hidden: Value, ids: Value, rows: Value, targets: Value, logprobs: Value): Value {
  const theta = g.input(COPY_CACHE_INPUTS.theta, 'float32', []);
  const lambda = g.input(COPY_CACHE_INPUTS.lambda, 'float32', []);
  const idsShape = g.node('Shape', [ids]);
  const seq = g.node('Gather', [idsShape, g.ints([1])], { axis: 0 }); // [1]
  const seqScalar = g.node('Squeeze', [seq, g.ints([0])]);
  // θ · h_t · h_i for every pair of one row, then the scored rows' lines: [M, seq].
  const states = g.node('Reshape', [hidden, g.node('Concat', [idsShape, g.ints([-1])], { axis: 0 })]);
  const similarity = g.node('MatMul', [states, g.node('Transpose', [states], { perm: [0, 2, 1] })]);
  const scored = g.node('Gather', [g.node('Reshape', [similarity, g.node('Concat', [g.ints([-1]), seq], { axis: 0 })]), rows], { axis: 0 });
  const position = g.node('Mod', [rows, seqScalar]); // t
  const row = g.node('Div', [rows, seqScalar]); // the sequence it belongs to
  // Earlier positions only: i < t.
  const earlier = g.node('Less', [
    g.node('Unsqueeze', [g.node('Range', [g.scalar(0, 'int64'), seqScalar, g.scalar(1, 'int64')]), g.ints([0])]),
    g.node('Unsqueeze', [position, g.ints([1])]),
  ]);
  const masked = g.node('Where', [earlier, g.node('Mul', [scored, theta]), g.scalar(-1e30)]);
  const weights = g.node('Softmax', [masked], { axis: -1 });
  // Position i copies x_{i+1}: the tokens shifted left (the last position copies nothing).
  const shifted = g.node('Slice', [ids, g.ints([1]), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]);
  const next = g.node('Pad', [shifted, g.ints([0, 0, 0, 1]), g.scalar(-1, 'int64')]);
  const copies = g.node('And', [earlier, g.node('Equal', [g.node('Gather', [next, row], { axis: 0 }), g.node('Unsqueeze', [targets, g.ints([1])])])]);
  const cache = g.node('ReduceSum', [g.node('Mul', [weights, g.node('Cast', [copies], { to: 1 })]), g.ints([-1])], { keepdims: 0 });
  // No earlier position (t = 0): the model alone.
  const share = g.node('Mul', [lambda, g.node('Cast', [g.node('Greater', [position, g.scalar(0, 'int64')])], { to: 1 })]);
  const keep = g.node('Sub', [g.scalar(1), share]);
  const mixed = g.node('Add', [g.node('Mul', [keep, g.node('Exp', [logprobs])]), g.node('Mul', [share, cache])]);
  // Where the cache has nothing for the token: log(1 − λ) + log p_model, exact even where
  // exp(log p_model) underflows (and the Log's gradient there is not 0/0).
  const copied = g.node('Greater', [cache, g.scalar(0)]);
  const logMixed = g.node('Log', [g.node('Where', [copied, mixed, g.scalar(1)])]);
  return g.node('Where', [copied, logMixed, g.node('Add', [logprobs, g.node('Log', [keep])])]);
}
