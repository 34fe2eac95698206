// Model shapes for `gapo init-model --preset`, tests and benchmarks.

export const presets: Record<string, Record<string, unknown>> = {
  /** A few hundred thousand parameters: fast enough for every test. */
  tiny: {
    architectures: ['Qwen2ForCausalLM'],
    vocab_size: 260,
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    max_position_embeddings: 2048,
    tie_word_embeddings: true,
  },
  /** Qwen2.5-0.5B's shapes (494M parameters), with random weights. */
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'],
    vocab_size: 151936,
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    max_position_embeddings: 32768,
    tie_word_embeddings: true,
  },
};
