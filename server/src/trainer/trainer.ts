// The update step: runs a training graph over micro-batches, accumulates gradients, skips a
// step whose loss or gradients are not finite, and applies AdamW.
//
// PolicyTrainer: the PPO-clip update of GRPO/DAPO/GAPO on a LoRA adapter.
// CrossEntropyTrainer: next-token training of a LoRA adapter or of every weight.

import { join } from 'node:path';
import * as ort from '../model/ort';
import { writeFileAtomic } from '../util/atomic-write';
import { ModelConfig } from '../model/config';
import { SHARED_WEIGHTS_SESSION } from '../model/sessions';
import { copyCacheFeeds } from '../model/copy-cache';
import { DECODER_INPUTS } from '../model/llama';
import { LoraAdapter } from '../model/lora';
import { WeightLayout } from '../model/weights';
import { AdamW, AdamWOptions, defaultAdamW } from './adamw';
import {
  buildCrossEntropyGraph,
  buildPolicyTrainingGraph,
  defaultPolicyLoss,
  gradName,
  METRIC_OUTPUTS,
  PolicyLossOptions,
  TRAIN_INPUTS,
  TrainingGraph,
} from './training-graphs';

/** One sequence to train on: the prompt's tokens, then the response's. */
export interface TrainingSequence {
  ids: number[];
  promptLength: number;
  /** Policy training: this sequence's advantage. */
  advantage?: number;
  /** Policy training: log-probabilities of the response tokens under the sampling policy. */
  oldLogprobs?: number[];
  /** Policy training with KL: the same under the reference (base) model. */
  refLogprobs?: number[];
}

export interface StepMetrics {
  step: number;
  skipped: boolean;
  reason?: string;
  loss: number;
  gradNorm: number;
  learningRate: number;
  tokens: number;
  /** Share of response tokens clipped from below (A < 0) and from above (A > 0). */
  clipLow?: number;
  clipHigh?: number;
  meanRatio?: number;
  approxKl?: number;
  entropy?: number;
  kl?: number;
}

export interface TrainerContext {
  config: ModelConfig;
  layout: WeightLayout;
  sessionOptions: ort.InferenceSession.SessionOptions;
}

export interface BatchOptions {
  /** Sequences per forward/backward run; their gradients accumulate (bounds memory). */
  microBatchSize: number;
  /**
   * ONNX Runtime's memory arena for the gradient session: a run's tensors reuse the blocks of
   * the ones freed before them. Without it glibc keeps what ONNX Runtime's threads free: a
   * one-prompt GAPO step on the 0.5B shape peaked at 10.2 GiB without it and 7.2 GiB with it
   * (`npm run bench -- training-memory`). The arena lives as long as the trainer, whose worker
   * ends with its run.
   */
  memoryArena: boolean;
  /**
   * Recompute each decoder layer in the backward instead of keeping its activations: with the
   * arena, a one-prompt GAPO step on the 0.5B shape peaked at 7.2 GiB against 14.7 kept, and
   * ran faster (`npm run bench -- training-memory`). On for policy training; off by default for
   * next-token training, whose small full-weight recipe (the default model) is not short of memory.
   */
  checkpointLayers: boolean;
}

async function createGradientSession(context: TrainerContext, graph: TrainingGraph, file: string, memoryArena: boolean): Promise<ort.InferenceSession> {
  // Beside the weight cache: the graph refers to weights.bin by a relative path.
  const path = join(context.layout.dir, file);
  writeFileAtomic(path, graph.graph.toBytes());
  return ort.InferenceSession.create(path, { ...context.sessionOptions, ...SHARED_WEIGHTS_SESSION, enableCpuMemArena: memoryArena });
}

/**
 * Tensors for a right-padded micro-batch. Position t predicts token t + 1; only the positions
 * that predict a response token are listed (response_rows), each with its weight in the loss.
 */
function packSequences(
  sequences: TrainingSequence[],
  weightOf: (sequence: TrainingSequence) => number,
  withPolicy: boolean,
  withReference: boolean,
): { feeds: Record<string, ort.Tensor>; tokens: number } {
  const rows = sequences.length;
  const seq = Math.max(...sequences.map((s) => s.ids.length));
  const ids = new BigInt64Array(rows * seq);
  const positions = new BigInt64Array(rows * seq);
  const attention = new Uint8Array(rows * seq * seq);
  const tokens = sequences.reduce((sum, s) => sum + responseTokens(s), 0);
  const responseRows = new BigInt64Array(tokens);
  const targets = new BigInt64Array(tokens);
  const weights = new Float32Array(tokens);
  const advantages = new Float32Array(tokens);
  const old = new Float32Array(tokens);
  const ref = new Float32Array(tokens);
  let m = 0;
  sequences.forEach((s, r) => {
    if (s.promptLength < 1 || s.promptLength >= s.ids.length) throw new RangeError(`sequence ${r}: needs at least one prompt token and one response token`);
    for (let t = 0; t < seq; t++) {
      positions[r * seq + t] = BigInt(t);
      attention.fill(1, (r * seq + t) * seq, (r * seq + t) * seq + t + 1); // causal; padding comes last
      if (t < s.ids.length) ids[r * seq + t] = BigInt(s.ids[t]);
    }
    const weight = weightOf(s);
    for (let k = 0; k < responseTokens(s); k++, m++) {
      responseRows[m] = BigInt(r * seq + s.promptLength + k - 1);
      targets[m] = BigInt(s.ids[s.promptLength + k]);
      weights[m] = weight;
      if (withPolicy) {
        advantages[m] = s.advantage!;
        old[m] = s.oldLogprobs![k];
      }
      if (withReference) ref[m] = s.refLogprobs![k];
    }
  });
  const feeds: Record<string, ort.Tensor> = {
    [DECODER_INPUTS.ids]: new ort.Tensor('int64', ids, [rows, seq]),
    [DECODER_INPUTS.positions]: new ort.Tensor('int64', positions, [rows, seq]),
    [DECODER_INPUTS.mask]: new ort.Tensor('bool', attention, [rows, 1, seq, seq]),
    [TRAIN_INPUTS.rows]: new ort.Tensor('int64', responseRows, [tokens]),
    [TRAIN_INPUTS.targets]: new ort.Tensor('int64', targets, [tokens]),
    [TRAIN_INPUTS.weights]: new ort.Tensor('float32', weights, [tokens]),
  };
  if (withPolicy) {
    feeds[TRAIN_INPUTS.advantages] = new ort.Tensor('float32', advantages, [tokens]);
    feeds[TRAIN_INPUTS.oldLogprobs] = new ort.Tensor('float32', old, [tokens]);
  }
  if (withReference) feeds[TRAIN_INPUTS.refLogprobs] = new ort.Tensor('float32', ref, [tokens]);
  return { feeds, tokens };
}

function responseTokens(s: TrainingSequence): number {
  return s.ids.length - s.promptLength;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function allFinite(tensors: Float32Array[]): boolean {
  for (const t of tensors) for (let i = 0; i < t.length; i++) if (!Number.isFinite(t[i])) return false;
  return true;
}

/**
 * Runs the graph on each micro-batch and sums the gradients. Returns the summed outputs named
 * in `sums` and the gradient of each parameter.
 */
async function accumulate(
  session: ort.InferenceSession,
  parameterNames: string[],
  batches: Record<string, ort.Tensor>[],
  sums: readonly string[],
  beforeEach: () => void = () => {},
): Promise<{ totals: Record<string, number>; grads: Float32Array[] }> {
  const totals: Record<string, number> = Object.fromEntries(sums.map((name) => [name, 0]));
  let grads: Float32Array[] | null = null;
  for (const feeds of batches) {
    beforeEach();
    const out = await session.run(feeds);
    for (const name of sums) totals[name] += Number(out[name].data[0]);
    const current = parameterNames.map((name) => out[gradName(name)].data as Float32Array);
    if (!grads) grads = current.map((g) => g.slice());
    else grads.forEach((g, k) => current[k].forEach((value, i) => (g[i] += value)));
  }
  return { totals, grads: grads ?? [] };
}

export interface PolicyTrainerOptions extends BatchOptions {
  loss: PolicyLossOptions;
  optimizer: AdamWOptions;
  /** PPO epochs: optimizer steps over the same batch of rollouts. */
  epochs: number;
}

export const defaultPolicyTrainer: PolicyTrainerOptions = { loss: defaultPolicyLoss, optimizer: defaultAdamW, epochs: 1, microBatchSize: 4, memoryArena: true, checkpointLayers: true };

export class PolicyTrainer {
  private readonly optimizer: AdamW;
  /** Called before each micro-batch: the language server's trainer waits here while suggestions run. */
  beforeMicroBatch: () => void = () => {};

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly parameterNames: string[],
    /** Updated in place by each step: the engine serving it sees the new values. */
    readonly adapter: LoraAdapter,
    readonly options: PolicyTrainerOptions,
    /** θ and λ of the model's copy cache, where it has one (the policy is the mixture). */
    private readonly copyFeeds: Record<string, ort.Tensor>,
  ) {
    this.optimizer = new AdamW(adapter.parameters(), options.optimizer);
  }

  static async create(context: TrainerContext, adapter: LoraAdapter, options: Partial<Omit<PolicyTrainerOptions, 'loss'>> & { loss?: Partial<PolicyLossOptions> } = {}): Promise<PolicyTrainer> {
    const resolved: PolicyTrainerOptions = {
      ...defaultPolicyTrainer,
      ...options,
      loss: { ...defaultPolicyLoss, ...options.loss },
      optimizer: { ...defaultAdamW, ...options.optimizer },
    };
    const graph = buildPolicyTrainingGraph(context.config, context.layout, resolved.loss, resolved.checkpointLayers);
    const session = await createGradientSession(context, graph, `policy-${resolved.loss.name}-${resolved.loss.aggregation}-${resolved.loss.klCoef > 0 ? 'kl' : 'nokl'}${resolved.checkpointLayers ? '-checkpointed' : ''}.onnx`, resolved.memoryArena);
    return new PolicyTrainer(session, graph.parameters, adapter, resolved, copyCacheFeeds(context.config.copyCache));
  }

  get steps(): number {
    return this.optimizer.step;
  }

  /** The batch's loss, metric sums and gradients at the current parameters, updating nothing. */
  async lossAndGradients(sequences: TrainingSequence[]): Promise<{ totals: Record<string, number>; grads: Float32Array[]; tokens: number }> {
    const { batches, tokens } = this.prepare(sequences);
    return { ...(await accumulate(this.session, this.parameterNames, batches, ['loss', ...METRIC_OUTPUTS])), tokens };
  }

  /** PPO epochs over one batch of rollouts: one optimizer step per epoch. */
  async train(sequences: TrainingSequence[]): Promise<StepMetrics[]> {
    const { batches, tokens } = this.prepare(sequences);
    const results: StepMetrics[] = [];
    for (let epoch = 0; epoch < this.options.epochs; epoch++) {
      const { totals, grads } = await accumulate(this.session, this.parameterNames, batches, ['loss', ...METRIC_OUTPUTS], this.beforeMicroBatch);
      const base = { step: this.optimizer.step, loss: totals.loss, tokens };
      const metrics = {
        clipLow: totals.clip_low_sum / tokens,
        clipHigh: totals.clip_high_sum / tokens,
        meanRatio: totals.ratio_sum / tokens,
        approxKl: totals.approx_kl_sum / tokens,
        entropy: totals.entropy_sum / tokens,
        kl: totals.kl_sum / tokens,
      };
      if (!Number.isFinite(totals.loss) || !allFinite(grads)) {
        // Keep the last good adapter: skip the step rather than write NaNs into it.
        results.push({ ...base, ...metrics, skipped: true, reason: Number.isFinite(totals.loss) ? 'non-finite gradient' : 'non-finite loss', gradNorm: Number.NaN, learningRate: 0 });
        continue;
      }
      const { gradNorm, learningRate } = this.optimizer.apply(grads);
      results.push({ ...base, ...metrics, skipped: false, gradNorm, learningRate });
    }
    return results;
  }

  private prepare(sequences: TrainingSequence[]): { batches: Record<string, ort.Tensor>[]; tokens: number } {
    const withKl = this.options.loss.klCoef > 0;
    for (const [i, s] of sequences.entries()) {
      if (!Number.isFinite(s.advantage)) throw new RangeError(`sequence ${i}: advantage must be a finite number`);
      if (s.oldLogprobs?.length !== responseTokens(s)) throw new RangeError(`sequence ${i}: needs one old log-prob per response token`);
      if (withKl && s.refLogprobs?.length !== responseTokens(s)) throw new RangeError(`sequence ${i}: needs one reference log-prob per response token`);
    }
    const tokens = sequences.reduce((sum, s) => sum + responseTokens(s), 0);
    // token-mean: every response token of the batch weighs the same; seq-mean-token-mean: each
    // sequence's tokens share one sequence's weight.
    const weightOf =
      this.options.loss.aggregation === 'token-mean' ? () => 1 / tokens : (s: TrainingSequence) => 1 / (responseTokens(s) * sequences.length);
    const adapterFeeds = { ...this.adapter.feeds(), ...this.copyFeeds };
    const batches = chunks(sequences, this.options.microBatchSize).map((chunk) => ({ ...adapterFeeds, ...packSequences(chunk, weightOf, true, withKl).feeds }));
    return { batches, tokens };
  }
}

export interface CrossEntropyTrainerOptions extends BatchOptions {
  optimizer: AdamWOptions;
}

/** Next-token training: a LoRA adapter, or every weight of the model (`full`). */
export class CrossEntropyTrainer {
  private readonly optimizer: AdamW;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly parameterNames: string[],
    /** The tensors trained, by graph input name (weights, or LoRA A/B). */
    readonly parameters: Map<string, Float32Array>,
    private readonly fixedFeeds: Record<string, ort.Tensor>,
    private readonly shapes: Map<string, number[]>,
    readonly options: CrossEntropyTrainerOptions,
  ) {
    this.optimizer = new AdamW(parameterNames.map((n) => parameters.get(n)!), options.optimizer);
  }

  /**
   * `weights` (full) maps every weight name to its values (they are trained in place); for
   * LoRA, pass the adapter.
   */
  static async create(
    context: TrainerContext,
    target: { kind: 'full'; weights: Map<string, Float32Array> } | { kind: 'lora'; adapter: LoraAdapter },
    options: Partial<CrossEntropyTrainerOptions> = {},
  ): Promise<CrossEntropyTrainer> {
    const resolved = { microBatchSize: 4, memoryArena: true, checkpointLayers: false, ...options, optimizer: { ...defaultAdamW, ...options.optimizer } };
    const graph = buildCrossEntropyGraph(context.config, context.layout, target.kind, resolved.checkpointLayers);
    const session = await createGradientSession(context, graph, `cross-entropy-${target.kind}${resolved.checkpointLayers ? '-checkpointed' : ''}.onnx`, resolved.memoryArena);
    const parameters = new Map<string, Float32Array>();
    const shapes = new Map<string, number[]>();
    let fixedFeeds: Record<string, ort.Tensor>;
    if (target.kind === 'full') {
      for (const name of graph.parameters) {
        const values = target.weights.get(name);
        if (!values) throw new Error(`no values for weight ${name}`);
        parameters.set(name, values);
        shapes.set(name, context.layout.tensors[name].shape);
      }
      fixedFeeds = LoraAdapter.zero(context.config).feeds();
    } else {
      fixedFeeds = target.adapter.feeds();
      for (const name of graph.parameters) {
        parameters.set(name, fixedFeeds[name].data as Float32Array);
        shapes.set(name, fixedFeeds[name].dims as number[]);
      }
    }
    return new CrossEntropyTrainer(session, graph.parameters, parameters, { ...fixedFeeds, ...copyCacheFeeds(context.config.copyCache) }, shapes, resolved);
  }

  /** Loss and gradients without updating anything (for checks and evaluation). */
  async lossAndGradients(sequences: TrainingSequence[]): Promise<{ loss: number; tokens: number; grads: Float32Array[] }> {
    const tokens = sequences.reduce((sum, s) => sum + responseTokens(s), 0);
    const feeds = this.feedsFor();
    const batches = chunks(sequences, this.options.microBatchSize).map((chunk) => ({ ...feeds, ...packSequences(chunk, () => 1 / tokens, false, false).feeds }));
    const { totals, grads } = await accumulate(this.session, this.parameterNames, batches, ['loss']);
    return { loss: totals.loss, tokens, grads };
  }

  async train(sequences: TrainingSequence[]): Promise<StepMetrics> {
    const { loss, tokens, grads } = await this.lossAndGradients(sequences);
    const base = { step: this.optimizer.step, loss, tokens };
    if (!Number.isFinite(loss) || !allFinite(grads)) {
      return { ...base, skipped: true, reason: Number.isFinite(loss) ? 'non-finite gradient' : 'non-finite loss', gradNorm: Number.NaN, learningRate: 0 };
    }
    return { ...base, skipped: false, ...this.optimizer.apply(grads) };
  }

  get parameterOrder(): string[] {
    return this.parameterNames;
  }

  /** The optimizer, for checkpoints (its moments and step) and its learning rate. */
  get optimizerState(): AdamW {
    return this.optimizer;
  }

  private feedsFor(): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { ...this.fixedFeeds };
    for (const name of this.parameterNames) feeds[name] = new ort.Tensor('float32', this.parameters.get(name)!, this.shapes.get(name)!);
    return feeds;
  }
}
