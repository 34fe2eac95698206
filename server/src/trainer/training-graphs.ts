// The training graphs: the decoder's forward (the same body the engine serves), a loss, and
// its gradients from the autodiff.
//
// - policy: the PPO-clip loss of GRPO/DAPO/GAPO on LoRA parameters, with the metrics the
//   dashboard and the paper's clipping-ratio comparison need.
// - cross-entropy: next-token loss on LoRA or on every weight (pretraining, supervised tuning).

import { gradients } from '../onnx/autodiff';
import { GraphBuilder, Value } from '../onnx/graph';
import { ModelConfig } from '../model/config';
import { scoredLogprobs, startGraph } from '../model/llama';
import { WeightLayout } from '../model/weights';

export type LossAggregation = 'token-mean' | 'seq-mean-token-mean';

export interface PolicyLossOptions {
  /** Which per-token loss (policyLosses). */
  name: PolicyLossName;
  /** PPO's ratio clip: [1 − clipLow, 1 + clipHigh] (DAPO's asymmetric 0.2 / 0.28). */
  clipLow: number;
  clipHigh: number;
  /** Dual-clip bound for negative advantages (loss at most −A · c). */
  dualClip: number;
  aggregation: LossAggregation;
  /** k3 KL to the reference (base) model; 0 leaves it out of the graph. */
  klCoef: number;
}

export const defaultPolicyLoss: PolicyLossOptions = { name: 'ppo-clip', clipLow: 0.2, clipHigh: 0.28, dualClip: 10, aggregation: 'token-mean', klCoef: 0 };

/** Builds each response token's loss, [M], from its probability ratio to the old policy and its advantage. */
type PolicyLossBuilder = (g: GraphBuilder, tokens: { ratio: Value; advantage: Value }, options: PolicyLossOptions) => Value;

/**
 * The policy losses by name, as verl's POLICY_LOSS_REGISTRY keeps them: a new loss is one
 * entry here (the KL term, the aggregation and the metrics are shared).
 */
export const policyLosses = {
  /** PPO-clip with DAPO's asymmetric clip, and a dual clip: with a negative advantage, a huge ratio may not blow the loss up past −A · c. */
  'ppo-clip': (g, { ratio, advantage }, options) => {
    const c = (value: number) => g.scalar(value);
    const negAdvantage = g.node('Neg', [advantage]);
    const unclipped = g.node('Mul', [negAdvantage, ratio]);
    const clippedRatio = g.node('Clip', [ratio, c(1 - options.clipLow), c(1 + options.clipHigh)]);
    const clipped = g.node('Max', [unclipped, g.node('Mul', [negAdvantage, clippedRatio])]);
    const dual = g.node('Min', [clipped, g.node('Mul', [negAdvantage, c(options.dualClip)])]);
    return g.node('Where', [g.node('Less', [advantage, c(0)]), dual, clipped]);
  },
} satisfies Record<string, PolicyLossBuilder>;

export type PolicyLossName = keyof typeof policyLosses;

/**
 * The training graphs work on response tokens only: the loss needs the next-token distribution
 * at those positions alone, so the hidden states of the others never reach the [tokens, vocab]
 * output layer (prompts are long and responses short: most of that memory and compute is saved).
 */
export const TRAIN_INPUTS = {
  /** [M]: for each response token, the row of the flat [batch · seq] states that predicts it. */
  rows: 'response_rows',
  /** [M]: the response tokens. */
  targets: 'response_targets',
  /** [M]: each token's weight in the loss: 1 / tokens in the batch (token-mean), or
   * 1 / (its sequence's tokens · sequences in the batch) (seq-mean-token-mean), so that the
   * gradients of micro-batches add up to the batch's gradient. */
  weights: 'token_weights',
  /** [M]: the advantage of each token's sequence. */
  advantages: 'advantages',
  oldLogprobs: 'old_logprobs',
  refLogprobs: 'ref_logprobs',
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
  /** [M] */
  logprobs: Value;
  /** [M, vocab] */
  logSoftmax: Value;
  /** [M] */
  weights: Value;
}

function forwardLogprobs(name: string, config: ModelConfig, layout: WeightLayout, weights: 'external' | 'inputs'): LogProbs {
  // Every weight trained (pretraining, full tuning) needs float32 weights; LoRA trains on a
  // quantized base too, its matrices dequantized where used.
  if (weights === 'inputs' && layout.dtype !== 'f32') throw new Error(`training every weight needs the float32 weight cache, not ${layout.dtype}`);
  const { body, ids } = startGraph(name, config, layout, { weights, dequantize: true });
  const { g } = body;
  const rows = g.input(TRAIN_INPUTS.rows, 'int64', ['tokens']);
  const targets = g.input(TRAIN_INPUTS.targets, 'int64', ['tokens']);
  const tokenWeights = g.input(TRAIN_INPUTS.weights, 'float32', ['tokens']);
  // The policy's log-probabilities: with the copy cache where the model has one.
  const { logprobs, logSoftmax } = scoredLogprobs(body, ids, rows, targets, config.copyCache !== undefined);
  return { g, body, logprobs, logSoftmax, weights: tokenWeights };
}

function sum(g: GraphBuilder, x: Value): Value {
  return g.node('ReduceSum', [x], { keepdims: 0 });
}

function weightedSum(g: GraphBuilder, x: Value, weights: Value): Value {
  return sum(g, g.node('Mul', [x, weights]));
}

/**
 * PPO-clip policy loss on LoRA parameters, as GRPO, DAPO and GAPO train. `checkpointLayers`:
 * each decoder layer is recomputed in the backward instead of keeping its activations from the
 * forward (one more forward of compute for a fraction of the memory).
 */
export function buildPolicyTrainingGraph(config: ModelConfig, layout: WeightLayout, options: PolicyLossOptions, checkpointLayers = true): TrainingGraph {
  const { g, body, logprobs, logSoftmax, weights } = forwardLogprobs('policy-training', config, layout, 'external');
  const advantage = g.input(TRAIN_INPUTS.advantages, 'float32', ['tokens']);
  const oldLogprobs = g.input(TRAIN_INPUTS.oldLogprobs, 'float32', ['tokens']);
  const c = (value: number) => g.scalar(value);

  const logRatio = g.node('Sub', [logprobs, oldLogprobs]);
  const ratio = g.node('Exp', [logRatio]);
  const loss = policyLosses[options.name];
  if (!loss) throw new Error(`unknown policy loss ${JSON.stringify(options.name)} (known: ${Object.keys(policyLosses).join(', ')})`);
  let perToken = loss(g, { ratio, advantage }, options);
  const negative = g.node('Less', [advantage, c(0)]);

  let klSum: Value | null = null;
  if (options.klCoef > 0) {
    // k3 = exp(ref − logp) − (ref − logp) − 1, clamped as verl does.
    const refLogprobs = g.input(TRAIN_INPUTS.refLogprobs, 'float32', ['tokens']);
    const delta = g.node('Sub', [refLogprobs, logprobs]);
    const k3 = g.node('Clip', [g.node('Sub', [g.node('Sub', [g.node('Exp', [delta]), delta]), c(1)]), c(-10), c(10)]);
    perToken = g.node('Add', [perToken, g.node('Mul', [k3, c(options.klCoef)])]);
    klSum = sum(g, k3);
  }
  // The aggregation (token-mean or seq-mean-token-mean) is in the token weights.
  const total = weightedSum(g, perToken, weights);

  const asFloat = (b: Value) => g.node('Cast', [b], { to: 1 });
  const positive = g.node('Greater', [advantage, c(0)]);
  const metrics: Record<(typeof METRIC_OUTPUTS)[number], Value> = {
    clip_low_sum: sum(g, asFloat(g.node('And', [g.node('Less', [ratio, c(1 - options.clipLow)]), negative]))),
    clip_high_sum: sum(g, asFloat(g.node('And', [g.node('Greater', [ratio, c(1 + options.clipHigh)]), positive]))),
    ratio_sum: sum(g, ratio),
    approx_kl_sum: sum(g, g.node('Neg', [logRatio])),
    entropy_sum: sum(g, entropyOf(g, logSoftmax)),
    kl_sum: klSum ?? c(0),
  };

  const grads = gradients(g, total, body.lora, checkpointLayers ? body.layers : []);
  g.output(total, 'loss', 'float32', []);
  g.output(logprobs, 'logprobs', 'float32', ['tokens']);
  for (const name of METRIC_OUTPUTS) g.output(metrics[name], name, 'float32', []);
  body.lora.forEach((input, i) => g.output(grads[i], gradName(input.name), 'float32'));
  return { graph: g, parameters: body.lora.map((v) => v.name) };
}

/** Entropy of each response token's next-token distribution (the model's own, before any copy cache), [M]. */
function entropyOf(g: GraphBuilder, logSoftmax: Value): Value {
  return g.node('Neg', [g.node('ReduceSum', [g.node('Mul', [g.node('Exp', [logSoftmax]), logSoftmax]), g.ints([-1])], { keepdims: 0 })]);
}

/**
 * Next-token cross-entropy over the response tokens, with gradients for the LoRA parameters or
 * for every weight of the model (then fed as inputs, not read from the weight cache).
 */
export function buildCrossEntropyGraph(config: ModelConfig, layout: WeightLayout, trainable: 'lora' | 'full', checkpointLayers = false): TrainingGraph {
  const { g, body, logprobs, weights } = forwardLogprobs(`cross-entropy-${trainable}`, config, layout, trainable === 'full' ? 'inputs' : 'external');
  const loss = g.node('Neg', [weightedSum(g, logprobs, weights)]);
  const wrt = trainable === 'lora' ? body.lora : g.inputs.filter((i) => layout.tensors[i.name]).map((i) => ({ name: i.name }));
  const grads = gradients(g, loss, wrt, checkpointLayers ? body.layers : []);
  g.output(loss, 'loss', 'float32', []);
  g.output(logprobs, 'logprobs', 'float32', ['tokens']);
  wrt.forEach((input, i) => g.output(grads[i], gradName(input.name), 'float32'));
  return { graph: g, parameters: wrt.map((v) => v.name) };
}
