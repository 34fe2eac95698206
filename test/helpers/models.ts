// Small random models for tests, written with the project's own `init-model` code.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initModel, InitModelOptions } from '../../server/src/model/init-model';
import { parseModelConfig } from '../../server/src/model/config';

const base = { vocab_size: 260, rms_norm_eps: 1e-6, rope_theta: 10000, max_position_embeddings: 256 };

/** Variants that exercise every branch of the architecture: GQA, MHA, tied/untied, biases. */
export const testConfigs: Record<string, Record<string, unknown>> = {
  'llama-gqa-untied': {
    ...base,
    architectures: ['LlamaForCausalLM'],
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: false,
  },
  'qwen2-tied-bias': {
    ...base,
    architectures: ['Qwen2ForCausalLM'],
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    tie_word_embeddings: true,
    rope_theta: 1000000,
  },
  'llama-mha-head-dim': {
    ...base,
    architectures: ['LlamaForCausalLM'],
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 3,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    head_dim: 16,
    attention_bias: true,
    tie_word_embeddings: false,
  },
};

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `gapo-${prefix}-`));
}

export function makeModel(name: string, options: InitModelOptions = {}, overrides: Record<string, unknown> = {}): string {
  const dir = tempDir(`model-${name}`);
  initModel(parseModelConfig({ ...testConfigs[name], ...overrides }, name), dir, { seed: 7, ...options });
  return dir;
}
