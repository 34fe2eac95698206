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
  // Shapes timed for the default model (gapo pretrain --shape): a Llama with an 8k BPE
  // vocabulary, tied embeddings and 1024 positions.
  'code-3m': codeShape(192, 512, 4, 3, 1),
  'code-6m': codeShape(256, 704, 6, 4, 2),
  'code-12m': codeShape(384, 1024, 6, 6, 2),
};

function codeShape(hidden: number, intermediate: number, layers: number, heads: number, kvHeads: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    vocab_size: 8192,
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 1024,
    tie_word_embeddings: true,
  };
}
