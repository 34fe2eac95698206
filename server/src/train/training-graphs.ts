// The training graphs: the decoder's forward (the same body the engine serves), a loss, and
// its gradients from the autodiff.
//
// - policy: the PPO-clip loss of GRPO/DAPO/GAPO on LoRA parameters, with the metrics the
//   dashboard and the paper's clipping-ratio comparison need.
// - cross-entropy: next-token loss on LoRA or on every weight (pretraining, supervised tuning).

import { gradients } from '../onnx/autodiff';
import { GraphBuilder, Value } from '../onnx/graph';
import { ModelConfig } from '../model/config';
import { decoderBody, outputWeight, startGraph } from '../model/llama';
import { WeightLayout } from '../model/weights';

export type LossAggregation = 'token-mean' | 'seq-mean-token-mean';

export interface PolicyLossOptions {
  /** PPO's ratio clip: [1 − clipLow, 1 + clipHigh] (DAPO's asymmetric 0.2 / 0.28). */
  clipLow: number;
  clipHigh: number;
  /** Dual-clip bound for negative advantages (loss at most −A · c). */
  dualClip: number;
  aggregation: LossAggregation;
  /** k3 KL to the reference (base) model; 0 leaves it out of the graph. */
  klCoef: number;
}

export const defaultPolicyLoss: PolicyLossOptions = { clipLow: 0.2, clipHigh: 0.28, dualClip: 10, aggregation: 'token-mean', klCoef: 0 };

export const TRAIN_INPUTS = {
  targets: 'target_ids',
  responseMask: 'response_mask',
  advantages: 'advantages',
  oldLogprobs: 'old_logprobs',
  refLogprobs: 'ref_logprobs',
  /** Tokens (token-mean) or sequences (seq-mean-token-mean) in the whole batch, so that the
   * gradients of its micro-batches add up to the batch's gradient. */
  normalizer: 'loss_normalizer',
} as const;

/** Sums over the micro-batch's response tokens; the trainer divides by token counts. */
export const METRIC_OUTPUTS = ['clip_low_sum', 'clip_high_sum', 'ratio_sum', 'approx_kl_sum', 'entropy_sum', 'kl_sum'] as const;

export const gradName = (input: string) => `grad:${input}`;

export interface TrainingGraph {
  graph: GraphBuilder;
  /** Names of the inputs whose gradients the graph outputs, in order. */
  parameters: string[];
}

interface LogProbs {
  g: GraphBuilder;
  body: ReturnType<typeof startGraph>['body'];
  logprobs: Value;
  logSoftmax: Value;
  mask: Value;
}

function forwardLogprobs(name: string, config: ModelConfig, layout: WeightLayout, weights: 'external' | 'inputs'): LogProbs {
  const { body, ids } = startGraph(name, config, layout, { weights });
  const { g } = body;
  const targets = g.input(TRAIN_INPUTS.targets, 'int64', ['batch', 'seq']);
  const mask = g.input(TRAIN_INPUTS.responseMask, 'float32', ['batch', 'seq']);
  const hidden = decoderBody(body, ids, false);
  const logSoftmax = g.node('LogSoftmax', [g.node('Gemm', [hidden, outputWeight(body)], { transB: 1 })], { axis: -1 });
  const picked = g.node('GatherElements', [logSoftmax, g.node('Reshape', [targets, g.ints([-1, 1])])], { axis: 1 });
  const logprobs = g.node('Reshape', [picked, g.node('Shape', [ids])]);
  return { g, body, logprobs, logSoftmax, mask };
}

function maskedSum(g: GraphBuilder, x: Value, mask: Value): Value {
  return g.node('ReduceSum', [g.node('Mul', [x, mask])], { keepdims: 0 });
}

function aggregate(g: GraphBuilder, perToken: Value, mask: Value, normalizer: Value, aggregation: LossAggregation): Value {
  if (aggregation === 'token-mean') return g.node('Div', [maskedSum(g, perToken, mask), normalizer]);
  // Each sequence's token mean, then summed over sequences (normalizer: sequences in the batch).
  const perSequence = g.node('ReduceSum', [g.node('Mul', [perToken, mask]), g.ints([1])], { keepdims: 0 });
  const lengths = g.node('Max', [g.node('ReduceSum', [mask, g.ints([1])], { keepdims: 0 }), g.scalar(1)]);
  return g.node('Div', [g.node('ReduceSum', [g.node('Div', [perSequence, lengths])], { keepdims: 0 }), normalizer]);
}

/** PPO-clip policy loss on LoRA parameters, as GRPO, DAPO and GAPO train. */
export function buildPolicyTrainingGraph(config: ModelConfig, layout: WeightLayout, options: PolicyLossOptions): TrainingGraph {
  const { g, body, logprobs, logSoftmax, mask } = forwardLogprobs('policy-training', config, layout, 'external');
  const advantages = g.input(TRAIN_INPUTS.advantages, 'float32', ['batch']);
  const oldLogprobs = g.input(TRAIN_INPUTS.oldLogprobs, 'float32', ['batch', 'seq']);
  const normalizer = g.input(TRAIN_INPUTS.normalizer, 'float32', []);
  const c = (value: number) => g.scalar(value);

  const logRatio = g.node('Sub', [logprobs, oldLogprobs]);
  const ratio = g.node('Exp', [logRatio]);
  const advantage = g.node('Unsqueeze', [advantages, g.ints([1])]); // [B, 1], one per sequence
  const negAdvantage = g.node('Neg', [advantage]);
  const unclipped = g.node('Mul', [negAdvantage, ratio]);
  const clippedRatio = g.node('Clip', [ratio, c(1 - options.clipLow), c(1 + options.clipHigh)]);
  const clipped = g.node('Max', [unclipped, g.node('Mul', [negAdvantage, clippedRatio])]);
  // Dual clip: with a negative advantage, a huge ratio may not blow the loss up past −A · c.
  const negative = g.node('Less', [advantage, c(0)]);
  const dual = g.node('Min', [clipped, g.node('Mul', [negAdvantage, c(options.dualClip)])]);
  let perToken = g.node('Where', [negative, dual, clipped]);

  let klSum: Value | null = null;
  if (options.klCoef > 0) {
    // k3 = exp(ref − logp) − (ref − logp) − 1, clamped as verl does.
    const refLogprobs = g.input(TRAIN_INPUTS.refLogprobs, 'float32', ['batch', 'seq']);
    const delta = g.node('Sub', [refLogprobs, logprobs]);
    const k3 = g.node('Clip', [g.node('Sub', [g.node('Sub', [g.node('Exp', [delta]), delta]), c(1)]), c(-10), c(10)]);
    perToken = g.node('Add', [perToken, g.node('Mul', [k3, c(options.klCoef)])]);
    klSum = maskedSum(g, k3, mask);
  }
  const loss = aggregate(g, perToken, mask, normalizer, options.aggregation);

  const asFloat = (b: Value) => g.node('Cast', [b], { to: 1 });
  const positive = g.node('Greater', [advantage, c(0)]);
  const metrics: Record<(typeof METRIC_OUTPUTS)[number], Value> = {
    clip_low_sum: maskedSum(g, asFloat(g.node('And', [g.node('Less', [ratio, c(1 - options.clipLow)]), negative])), mask),
    clip_high_sum: maskedSum(g, asFloat(g.node('And', [g.node('Greater', [ratio, c(1 + options.clipHigh)]), positive])), mask),
    ratio_sum: maskedSum(g, ratio, mask),
    approx_kl_sum: maskedSum(g, g.node('Neg', [logRatio]), mask),
    entropy_sum: maskedSum(g, entropyOf(g, logSoftmax, logprobs), mask),
    kl_sum: klSum ?? g.node('Mul', [normalizer, c(0)]),
  };

  const grads = gradients(g, loss, body.lora);
  g.output(loss, 'loss', 'float32', []);
  g.output(logprobs, 'logprobs', 'float32', ['batch', 'seq']);
  for (const name of METRIC_OUTPUTS) g.output(metrics[name], name, 'float32', []);
  body.lora.forEach((input, i) => g.output(grads[i], gradName(input.name), 'float32'));
  return { graph: g, parameters: body.lora.map((v) => v.name) };
}

/** Per-token entropy of the next-token distribution, [B, S]. */
function entropyOf(g: GraphBuilder, logSoftmax: Value, like: Value): Value {
  const perRow = g.node('Neg', [g.node('ReduceSum', [g.node('Mul', [g.node('Exp', [logSoftmax]), logSoftmax]), g.ints([-1])], { keepdims: 0 })]);
  return g.node('Reshape', [perRow, g.node('Shape', [like])]);
}

/**
 * Next-token cross-entropy over the masked tokens, with gradients for the LoRA parameters or
 * for every weight of the model (then fed as inputs, not read from the weight cache).
 */
export function buildCrossEntropyGraph(config: ModelConfig, layout: WeightLayout, trainable: 'lora' | 'full'): TrainingGraph {
  const { g, body, logprobs, mask } = forwardLogprobs(`cross-entropy-${trainable}`, config, layout, trainable === 'full' ? 'inputs' : 'external');
  const normalizer = g.input(TRAIN_INPUTS.normalizer, 'float32', []);
  const loss = g.node('Div', [g.node('Neg', [maskedSum(g, logprobs, mask)]), normalizer]);
  const wrt = trainable === 'lora' ? body.lora : g.inputs.filter((i) => layout.tensors[i.name]).map((i) => ({ name: i.name }));
  const grads = gradients(g, loss, wrt);
  g.output(loss, 'loss', 'float32', []);
  g.output(logprobs, 'logprobs', 'float32', ['batch', 'seq']);
  wrt.forEach((input, i) => g.output(grads[i], gradName(input.name), 'float32'));
  return { graph: g, parameters: wrt.map((v) => v.name) };
}
