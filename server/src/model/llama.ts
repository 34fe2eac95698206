// The Llama/Qwen2 decoder as ONNX graphs, one readable function per block (nanoGPT's
// model.py is the model for this file). Hidden states stay flat, [tokens, hidden], so every
// linear layer is one Gemm against the weight in Hugging Face's [out, in] layout; they take
// the [batch, seq, ...] shape only around rotary embeddings and attention.
//
// Two graphs share the body:
// - decoder: prefill and decode with a KV cache; returns the next-token logits of the last
//   position (and their log-sum-exp) and the updated cache (`present_*`).
// - scorer: no cache; returns the log-probability (and entropy) of given next tokens at every
//   position, what RL needs for old and reference log-probs.
// The training graphs (server/src/trainer/) reuse the body too.
//
// Every linear layer carries a LoRA branch whose A and B matrices are graph inputs (rank is a
// symbolic dimension), so adapters swap without rebuilding anything and "no adapter" is a
// zero adapter: y = x·Wᵀ + b + scale · (x·Aᵀ)·Bᵀ.

import type { Checkpoint } from '../onnx/autodiff';
import { GraphBuilder, MICROSOFT_DOMAIN, Value } from '../onnx/graph';
import { ModelConfig } from './config';
import { copyCacheLogprobs } from './copy-cache';
import { QUANT_BLOCK } from './quantize';
import { WeightLayout } from './weights';

export const DECODER_INPUTS = { ids: 'input_ids', positions: 'position_ids', mask: 'attention_mask' } as const;
/** The decoder's cache inputs besides past_*: each row's total length − 1, and the total length. */
export const CACHE_INPUTS = { seqlens: 'seqlens_k', total: 'total_sequence_length' } as const;
export const pastKey = (layer: number) => `past_key.${layer}`;
export const pastValue = (layer: number) => `past_value.${layer}`;
/** The keys and values of a decoder step's own positions, [batch, seq, kv heads · head dim]. */
export const stepKey = (layer: number) => `step_key.${layer}`;
export const stepValue = (layer: number) => `step_value.${layer}`;

/** The linear layers that carry LoRA, by their Hugging Face (and PEFT) module names. */
export const LORA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export const LORA_SCALE = 'lora_scale';
export const loraA = (module: string) => `lora_A:${module}`;
export const loraB = (module: string) => `lora_B:${module}`;

/** Every LoRA-carrying linear layer: its module path and [in, out] features. */
export function loraTargets(config: ModelConfig): { module: string; inFeatures: number; outFeatures: number }[] {
  const { hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim: d } = config;
  const shapes: Record<(typeof LORA_MODULES)[number], [string, number, number]> = {
    q_proj: ['self_attn', h, numHeads * d],
    k_proj: ['self_attn', h, numKvHeads * d],
    v_proj: ['self_attn', h, numKvHeads * d],
    o_proj: ['self_attn', numHeads * d, h],
    gate_proj: ['mlp', h, i],
    up_proj: ['mlp', h, i],
    down_proj: ['mlp', i, h],
  };
  const targets = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const name of LORA_MODULES) {
      const [block, inFeatures, outFeatures] = shapes[name];
      targets.push({ module: `model.layers.${layer}.${block}.${name}`, inFeatures, outFeatures });
    }
  }
  return targets;
}

export interface GraphOptions {
  /** 'external': constant initializers from the weight cache; 'inputs': fed each run (full fine-tuning). */
  weights: 'external' | 'inputs';
  /** false: no LoRA branches (serving the base model skips their small matrix products). */
  lora?: boolean;
  /**
   * Training graphs on a quantized cache (LoRA on a quantized base, as QLoRA trains): each
   * matrix is dequantized to float32 where it is used, and the products run as in float32, so
   * the backward pass needs only Gemm's gradient. Serving keeps MatMulNBits.
   */
  dequantize?: boolean;
}

/** A quantized matrix as graph values: its blocks and scales in the shapes MatMulNBits reads. */
interface QuantizedWeight {
  blocks: Value;
  scales: Value;
  bits: 4 | 8;
  outFeatures: number;
  inFeatures: number;
  /** The same bytes as rows of [in · bits / 8] with [out, in / 32] scales (GatherBlockQuantized). */
  rows: () => { data: Value; scales: Value };
  /** The same bytes as an [out, in] matrix of uint8 or uint4, with [out, in / 32] scales and zero points (DequantizeLinear). */
  matrix: () => { data: Value; scales: Value; zeroPoints: Value };
}

export interface Body {
  g: GraphBuilder;
  config: ModelConfig;
  weight: (name: string) => Value;
  /** The weight's 8- or 4-bit blocks, where the cache holds it quantized (else null). */
  quantized: (name: string) => QuantizedWeight | null;
  /** Quantized matrices are dequantized where used (training graphs), not multiplied by MatMulNBits. */
  dequantize: boolean;
  shapeOf: (name: string) => number[];
  /** The LoRA A and B inputs, in the order the layers created them. */
  lora: Value[];
  /** null: a graph without LoRA branches. */
  loraScale: Value | null;
  /** [B, S, -1], for reshaping flat [N, x] tensors back to batch and sequence. */
  batchSeqShape: Value;
  positions: Value;
  /** The [batch, 1, seq, total] attention mask, declared where a graph uses it (not by the decoder). */
  mask: () => Value;
  cos: Value;
  sin: Value;
  /** Each decoder layer's nodes and its residual stream in and out, as the body built them (activation checkpointing). */
  layers: Checkpoint[];
}

export function startGraph(name: string, config: ModelConfig, layout: WeightLayout, options: GraphOptions = { weights: 'external' }): { body: Body; ids: Value } {
  const g = new GraphBuilder(name);
  const ids = g.input(DECODER_INPUTS.ids, 'int64', ['batch', 'seq']);
  const positions = g.input(DECODER_INPUTS.positions, 'int64', ['batch', 'seq']);
  let mask: Value | null = null;
  const declared = new Map<string, Value>();
  const entryOf = (tensor: string) => {
    const entry = layout.tensors[tensor];
    if (!entry) throw new Error(`weight ${tensor} is not in the weight cache`);
    return entry;
  };
  const weight = (tensor: string): Value => {
    const entry = entryOf(tensor);
    if (entry.quantized) throw new Error(`weight ${tensor} is quantized in this cache; its readers take its blocks`);
    if (options.weights === 'external') return g.external(tensor, entry.shape, { location: layout.file, offset: entry.offset, length: entry.length });
    if (!declared.has(tensor)) declared.set(tensor, g.input(tensor, 'float32', entry.shape));
    return declared.get(tensor)!;
  };
  const { cos, sin } = rotaryTables(config);
  const half = config.headDim / 2;
  const quantized = (tensor: string): QuantizedWeight | null => {
    const entry = entryOf(tensor);
    if (!entry.quantized) return null;
    if (options.weights !== 'external') throw new Error('a quantized weight cache cannot feed weights as inputs (full fine-tuning needs float32)');
    const [outFeatures, inFeatures] = entry.shape;
    const { bits, scales } = entry.quantized;
    const blocks = inFeatures / QUANT_BLOCK;
    return {
      blocks: g.external(`${tensor}:blocks`, [outFeatures, blocks, (QUANT_BLOCK * bits) / 8], { location: layout.file, offset: entry.offset, length: entry.length }, 'uint8'),
      scales: g.external(`${tensor}:scales`, [outFeatures * blocks], { location: layout.file, ...scales }),
      bits,
      outFeatures,
      inFeatures,
      rows: () => ({
        data: g.external(`${tensor}:rows`, [outFeatures, (inFeatures * bits) / 8], { location: layout.file, offset: entry.offset, length: entry.length }, 'uint8'),
        scales: g.external(`${tensor}:row_scales`, [outFeatures, blocks], { location: layout.file, ...scales }),
      }),
      matrix: () => ({
        data: g.external(`${tensor}:matrix`, [outFeatures, inFeatures], { location: layout.file, offset: entry.offset, length: entry.length }, bits === 8 ? 'uint8' : 'uint4'),
        scales: g.external(`${tensor}:row_scales`, [outFeatures, blocks], { location: layout.file, ...scales }),
        zeroPoints: zeroPoints(outFeatures, blocks, bits),
      }),
    };
  };
  // MatMulNBits' implied zero point, 2^(bits−1), spelled out for DequantizeLinear: one tensor per shape.
  const zeroPointTensors = new Map<string, Value>();
  const zeroPoints = (rows: number, blocks: number, bits: 4 | 8): Value => {
    const key = `${rows}x${blocks}x${bits}`;
    if (!zeroPointTensors.has(key)) {
      const bytes = new Uint8Array(bits === 8 ? rows * blocks : Math.ceil((rows * blocks) / 2)).fill(bits === 8 ? 128 : 0x88);
      zeroPointTensors.set(key, g.constant(bytes, [rows, blocks], bits === 8 ? 'uint8' : 'uint4', 'zero_points'));
    }
    return zeroPointTensors.get(key)!;
  };
  const body: Body = {
    g,
    config,
    weight,
    quantized,
    shapeOf: (tensor) => layout.tensors[tensor].shape,
    dequantize: options.dequantize ?? false,
    lora: [],
    loraScale: options.lora === false ? null : g.input(LORA_SCALE, 'float32', []),
    batchSeqShape: g.node('Concat', [g.node('Shape', [ids]), g.ints([-1])], { axis: 0 }),
    positions,
    mask: () => (mask ??= g.input(DECODER_INPUTS.mask, 'bool', ['batch', 1, 'seq', 'total'])),
    cos: g.constant(cos, [config.maxPositions, half], 'float32', 'rope_cos'),
    sin: g.constant(sin, [config.maxPositions, half], 'float32', 'rope_sin'),
    layers: [],
  };
  return { body, ids };
}

/** cos and sin of position · θ^(−2i/d), computed in float64 as Hugging Face does in float32. */
export function rotaryTables(config: ModelConfig): { cos: Float32Array; sin: Float32Array } {
  const half = config.headDim / 2;
  const cos = new Float32Array(config.maxPositions * half);
  const sin = new Float32Array(config.maxPositions * half);
  for (let i = 0; i < half; i++) {
    const inverseFrequency = 1 / config.ropeTheta ** ((2 * i) / config.headDim);
    for (let p = 0; p < config.maxPositions; p++) {
      cos[p * half + i] = Math.cos(p * inverseFrequency);
      sin[p * half + i] = Math.sin(p * inverseFrequency);
    }
  }
  return { cos, sin };
}

/** x · Wᵀ for a [out, in] weight: Gemm in float32, MatMulNBits on 8- or 4-bit blocks. */
function matmulWeight(b: Body, x: Value, name: string): Value {
  const q = b.quantized(name);
  if (!q) return b.g.node('Gemm', [x, b.weight(name)], { transB: 1 });
  if (b.dequantize) return b.g.node('Gemm', [x, dequantized(b, x, q)], { transB: 1 });
  // accuracy_level 4: the activations are quantized to int8 per block too, so the products
  // run on the CPU's int8 dot-product instructions (as llama.cpp's Q8_0 and Q4_0 do).
  const attributes = { K: q.inFeatures, N: q.outFeatures, bits: q.bits, block_size: QUANT_BLOCK, accuracy_level: 4 };
  return b.g.node('MatMulNBits', [x, q.blocks, q.scales], attributes, undefined, MICROSOFT_DOMAIN);
}

/**
 * A quantized matrix in float32 for one product with x. Its scales carry a zero computed from x,
 * so the float32 copy is made after x exists and, when the backward recomputes a layer, made
 * again there rather than shared with the forward's (ONNX Runtime would otherwise run it early
 * or merge the two): the model's float32 weights are never all alive at once.
 */
function dequantized(b: Body, x: Value, q: QuantizedWeight): Value {
  const { g } = b;
  const { data, scales, zeroPoints } = q.matrix();
  return g.node('DequantizeLinear', [data, g.node('Add', [scales, g.zeroAfter([x], x)]), zeroPoints], { axis: 1, block_size: QUANT_BLOCK });
}

function linear(b: Body, x: Value, name: string, bias = false): Value {
  const { g } = b;
  let base = matmulWeight(b, x, `${name}.weight`);
  if (bias) base = g.node('Add', [base, b.weight(`${name}.bias`)]);
  if (!b.loraScale) return base;
  const [outFeatures, inFeatures] = b.shapeOf(`${name}.weight`);
  const a = g.input(loraA(name), 'float32', ['rank', inFeatures]);
  const bMatrix = g.input(loraB(name), 'float32', [outFeatures, 'rank']);
  b.lora.push(a, bMatrix);
  const delta = g.node('Gemm', [g.node('Gemm', [x, a], { transB: 1 }), bMatrix], { transB: 1 });
  return g.node('Add', [base, g.node('Mul', [delta, b.loraScale])]);
}


function rmsNorm(b: Body, x: Value, name: string): Value {
  return b.g.node('RMSNormalization', [x, b.weight(`${name}.weight`)], { axis: -1, epsilon: b.config.rmsNormEps });
}

/**
 * Self-attention. With a cache, GroupQueryAttention: its past_* inputs are buffers with room
 * for more positions, of which `seqlens_k` are filled (causal, every row the same length). Its
 * present_* outputs stay inside the graph: onnxruntime-node copies every fetched output into a
 * new JavaScript buffer, so fetching the whole cache made each step cost more the larger the
 * cache's room. The step's own keys and values come out instead (step_*), and the engine writes
 * them into its buffers. Without a cache (scoring, training), the ONNX Attention op with an
 * explicit mask.
 */
function attention(b: Body, x: Value, layer: number, cache: DecoderCache | null): Value {
  const { g, config } = b;
  const p = `model.layers.${layer}.self_attn`;
  const rope = (t: Value, heads: number) => g.node('RotaryEmbedding', [t, b.cos, b.sin, b.positions], { num_heads: heads, interleaved: 0 });
  const toBatchSeq = (t: Value) => g.node('Reshape', [t, b.batchSeqShape]);
  const q = rope(toBatchSeq(linear(b, x, `${p}.q_proj`, config.qkvBias)), config.numHeads);
  const k = rope(toBatchSeq(linear(b, x, `${p}.k_proj`, config.qkvBias)), config.numKvHeads);
  const v = toBatchSeq(linear(b, x, `${p}.v_proj`, config.qkvBias));
  let y: Value;
  if (cache) {
    const shape = ['batch', config.numKvHeads, 'capacity', config.headDim];
    const past = [g.input(pastKey(layer), 'float32', shape), g.input(pastValue(layer), 'float32', shape)];
    const heads = { num_heads: config.numHeads, kv_num_heads: config.numKvHeads };
    [y] = g.nodeMulti('GroupQueryAttention', [q, k, v, ...past, cache.seqlens, cache.total], heads, [g.fresh('attn'), g.fresh('present_key'), g.fresh('present_value')], MICROSOFT_DOMAIN);
    const stepShape = ['batch', 'seq', config.numKvHeads * config.headDim];
    g.output(k, stepKey(layer), 'float32', stepShape);
    g.output(v, stepValue(layer), 'float32', stepShape);
  } else {
    y = g.node('Attention', [q, k, v, b.mask()], { q_num_heads: config.numHeads, kv_num_heads: config.numKvHeads });
  }
  const flat = g.node('Reshape', [y, g.ints([-1, config.numHeads * config.headDim])]);
  return linear(b, flat, `${p}.o_proj`);
}

interface DecoderCache {
  seqlens: Value;
  total: Value;
}

function mlp(b: Body, x: Value, layer: number): Value {
  const { g } = b;
  const p = `model.layers.${layer}.mlp`;
  const gate = linear(b, x, `${p}.gate_proj`);
  const silu = g.node('Mul', [gate, g.node('Sigmoid', [gate])]);
  return linear(b, g.node('Mul', [silu, linear(b, x, `${p}.up_proj`)]), `${p}.down_proj`);
}

/** Embedding, the decoder layers and the final norm: flat [N, hidden] states out. */
export function decoderBody(b: Body, ids: Value, withCache: boolean): Value {
  const { g, config } = b;
  const embedded = embed(b, ids);
  let x = g.node('Reshape', [embedded, g.ints([-1, config.hiddenSize])]);
  const cache: DecoderCache | null = withCache ? { seqlens: g.input(CACHE_INPUTS.seqlens, 'int32', ['batch']), total: g.input(CACHE_INPUTS.total, 'int32', []) } : null;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const input = x;
    const start = g.nodes.length;
    x = g.node('Add', [x, attention(b, rmsNorm(b, x, `model.layers.${layer}.input_layernorm`), layer, cache)]);
    x = g.node('Add', [x, mlp(b, rmsNorm(b, x, `model.layers.${layer}.post_attention_layernorm`), layer)]);
    b.layers.push({ start, end: g.nodes.length, input: input.name, output: x.name });
  }
  return rmsNorm(b, x, 'model.norm');
}

/** The embeddings of `ids`: a Gather, or GatherBlockQuantized on the quantized rows. */
function embed(b: Body, ids: Value): Value {
  const name = 'model.embed_tokens.weight';
  const q = b.quantized(name);
  if (!q) return b.g.node('Gather', [b.weight(name), ids], { axis: 0 });
  // The same bytes the tied output layer reads as blocks (a Reshape would be folded into a copy).
  const { data, scales } = q.rows();
  return b.g.node('GatherBlockQuantized', [data, ids, scales], { bits: q.bits, block_size: QUANT_BLOCK, gather_axis: 0, quantize_axis: 1 }, undefined, MICROSOFT_DOMAIN);
}

/** Logits of flat [N, hidden] states: the output layer (the embeddings, where tied). */
export function outputLogits(b: Body, hidden: Value): Value {
  return matmulWeight(b, hidden, b.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
}

/** Prefill and decode: next-token logits at the last position, and the KV cache. */
export function buildDecoderGraph(config: ModelConfig, layout: WeightLayout, options: { lora: boolean } = { lora: true }): GraphBuilder {
  const { body, ids } = startGraph(options.lora ? 'decoder' : 'decoder-base', config, layout, { weights: 'external', lora: options.lora });
  const { g } = body;
  const hidden = g.node('Reshape', [decoderBody(body, ids, true), body.batchSeqShape]);
  // The final states of the step's positions: what the copy cache compares (fetched only when on).
  g.output(hidden, 'hidden', 'float32', ['batch', 'seq', config.hiddenSize]);
  const last = g.node('Gather', [hidden, g.scalar(-1, 'int64')], { axis: 1 });
  const logits = outputLogits(body, last);
  g.output(logits, 'logits', 'float32', ['batch', config.vocabSize]);
  // Each sampled token's log-probability needs log Σ exp over the vocabulary: 150k exps cost
  // a tenth of a decode step in JavaScript, a fraction of a millisecond here.
  g.output(g.node('ReduceLogSumExp', [logits, g.ints([-1])], { keepdims: 0 }), 'logsumexp', 'float32', ['batch']);
  return g;
}

/**
 * Log-probabilities of given next tokens at flat rows of the states (indices into [batch · seq]),
 * under the model alone or (`copy`) mixed with its copy cache; and
 * the [rows, vocab] log-softmax of the model alone. Only these rows reach the output layer: a
 * continuation is short and its prompt long, and [positions, vocab] logits are the big tensor.
 */
export function scoredLogprobs(b: Body, ids: Value, rows: Value, targets: Value, copy: boolean): { logprobs: Value; logSoftmax: Value } {
  const { g } = b;
  const states = decoderBody(b, ids, false);
  const logSoftmax = g.node('LogSoftmax', [outputLogits(b, g.node('Gather', [states, rows], { axis: 0 }))], { axis: -1 });
  const picked = g.node('GatherElements', [logSoftmax, g.node('Unsqueeze', [targets, g.ints([1])])], { axis: 1 });
  const model = g.node('Reshape', [picked, g.ints([-1])]);
  return { logprobs: copy ? copyCacheLogprobs(g, states, ids, rows, targets, model) : model, logSoftmax };
}

/**
 * Log-probabilities of given next tokens (`copy`: under the model mixed with its copy cache, θ
 * and λ fed as inputs) and the entropy of the model's own next-token distribution, for a padded
 * batch.
 */
export function buildScorerGraph(config: ModelConfig, layout: WeightLayout, copy: boolean): GraphBuilder {
  const { body, ids } = startGraph(copy ? 'scorer-copy' : 'scorer', config, layout);
  const { g } = body;
  const rows = g.input('score_rows', 'int64', ['scored']);
  const targets = g.input('score_targets', 'int64', ['scored']);
  const { logprobs, logSoftmax } = scoredLogprobs(body, ids, rows, targets, copy);
  const entropy = g.node('Neg', [g.node('ReduceSum', [g.node('Mul', [g.node('Exp', [logSoftmax]), logSoftmax]), g.ints([-1])], { keepdims: 0 })]);
  g.output(logprobs, 'logprobs', 'float32', ['scored']);
  g.output(entropy, 'entropy', 'float32', ['scored']);
  return g;
}
