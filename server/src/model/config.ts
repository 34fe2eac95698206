// The decoder configuration, read from a Hugging Face `config.json`. The Llama/Qwen2 family
// shares one architecture: RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP;
// Qwen2 adds biases to the q/k/v projections.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CopyCacheSettings, parseCopyCache } from './copy-cache';

export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'Qwen2ForCausalLM'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Biases on the q, k and v projections (Qwen2; Llama's `attention_bias`). */
  qkvBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** The prompt format the project's tools trained the model in (`gapo_prompt_format`); unset for other models. */
  promptFormat?: string;
  /** The copy mechanism's θ and λ (`gapo_copy_cache`, see copy-cache.ts); unset: the model alone. */
  copyCache?: CopyCacheSettings;
}

export class ModelConfigError extends Error {}

export function readModelConfig(modelDir: string): ModelConfig {
  const file = join(modelDir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ModelConfigError(`${file}: cannot read the model's config (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ModelConfigError(`${file}: not valid JSON`);
  }
  return parseModelConfig(raw, file);
}

export function parseModelConfig(raw: unknown, file = 'config.json'): ModelConfig {
  const c = raw as Record<string, unknown>;
  const architecture = Array.isArray(c.architectures) ? String(c.architectures[0]) : String(c.model_type ?? 'unknown');
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ModelConfigError(`${file}: architecture ${architecture} is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  const int = (key: string, fallback?: number): number => {
    const value = c[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new ModelConfigError(`${file}: ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    }
    return value;
  };
  const positive = (key: string, fallback: number): number => {
    const value = c[key] ?? fallback;
    if (typeof value !== 'number' || !(value > 0)) throw new ModelConfigError(`${file}: ${key} must be a positive number, got ${JSON.stringify(c[key])}`);
    return value;
  };
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    throw new ModelConfigError(`${file}: rope_scaling ${JSON.stringify(c.rope_scaling)} is not supported yet`);
  }
  if (c.use_sliding_window === true) {
    throw new ModelConfigError(`${file}: sliding-window attention is not supported yet`);
  }
  if (c.mlp_bias === true) throw new ModelConfigError(`${file}: mlp_bias is not supported yet`);

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = int('head_dim', Math.floor(hiddenSize / numHeads));
  if (numHeads % numKvHeads !== 0) {
    throw new ModelConfigError(`${file}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (headDim % 2 !== 0) throw new ModelConfigError(`${file}: head_dim (${headDim}) must be even for rotary embeddings`);
  const eos = c.eos_token_id;
  let copyCache: CopyCacheSettings | undefined;
  try {
    copyCache = parseCopyCache(c.gapo_copy_cache, file);
  } catch (error) {
    throw new ModelConfigError((error as Error).message);
  }
  return {
    architecture: architecture as Architecture,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positive('rms_norm_eps', 1e-6),
    ropeTheta: positive('rope_theta', 10000),
    maxPositions: int('max_position_embeddings', 2048),
    tieWordEmbeddings: c.tie_word_embeddings === true,
    qkvBias: architecture === 'Qwen2ForCausalLM' || c.attention_bias === true,
    bosTokenId: typeof c.bos_token_id === 'number' ? c.bos_token_id : null,
    eosTokenIds: Array.isArray(eos) ? eos.filter((e): e is number => typeof e === 'number') : typeof eos === 'number' ? [eos] : [],
    ...(typeof c.gapo_prompt_format === 'string' ? { promptFormat: c.gapo_prompt_format } : {}),
    ...(copyCache ? { copyCache } : {}),
  };
}

/** The config as Hugging Face writes it, for `gapo init-model`. */
export function toHuggingFaceConfig(config: ModelConfig): Record<string, unknown> {
  return {
    architectures: [config.architecture],
    model_type: config.architecture === 'Qwen2ForCausalLM' ? 'qwen2' : 'llama',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    max_position_embeddings: config.maxPositions,
    tie_word_embeddings: config.tieWordEmbeddings,
    ...(config.architecture === 'LlamaForCausalLM' ? { attention_bias: config.qkvBias } : {}),
    hidden_act: 'silu',
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds,
    torch_dtype: 'float32',
    rope_scaling: null,
    ...(config.promptFormat ? { gapo_prompt_format: config.promptFormat } : {}),
    ...(config.copyCache ? { gapo_copy_cache: config.copyCache } : {}),
  };
}

export interface WeightSpec {
  name: string;
  shape: number[];
}

/** Every weight the config requires, with its Hugging Face name and shape. */
export function expectedWeights(config: ModelConfig): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: i, numHeads, numKvHeads, headDim: d, vocabSize: v } = config;
  const specs: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [v, h] }];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [numHeads * d, h] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [numKvHeads * d, h] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [numKvHeads * d, h] },
    );
    if (config.qkvBias) {
      specs.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [numHeads * d] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [numKvHeads * d] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [numKvHeads * d] },
      );
    }
    specs.push(
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, numHeads * d] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [i, h] },
      { name: `${p}.mlp.up_proj.weight`, shape: [i, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, i] },
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [h] });
  if (!config.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [v, h] });
  return specs;
}
