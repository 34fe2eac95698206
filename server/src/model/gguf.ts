// A model (and a LoRA adapter merged into it) written as GGUF v3, the file llama.cpp, Ollama and
// LM Studio load: architecture metadata, the byte-level BPE tokenizer, and the weights under
// llama.cpp's tensor names, in F32, F16, Q8_0 or Q4_0. Written the way llama.cpp's
// convert_hf_to_gguf.py writes these architectures: Llama's q/k rows permuted back to
// interleaved RoPE pairs (Qwen2 keeps Hugging Face's halves), 1-D tensors in F32, a tied
// output layer left out (llama.cpp reuses the embeddings).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedWeights, type ModelConfig } from './config';
import type { LoraAdapter } from './lora';
import type { ModelWeights } from './weights';
import { float32ToFloat16 } from './safetensors';
import { writeFileAtomic } from '../util/atomic-write';

export type GgufDType = 'f32' | 'f16' | 'q8_0' | 'q4_0';

export class GgufError extends Error {}

const GGUF_MAGIC = 0x46554747; // "GGUF", little-endian
const GGUF_VERSION = 3;
const ALIGNMENT = 32;
const BLOCK = 32; // Q8_0 and Q4_0 alike

/** GGUF metadata value types. */
const enum ValueType {
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
}

/** ggml tensor types, and general.file_type's "mostly" values. */
const TENSOR_TYPE: Record<GgufDType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8 };
const FILE_TYPE: Record<GgufDType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };

type Value = { type: ValueType.UINT32 | ValueType.INT32 | ValueType.FLOAT32; value: number } | { type: ValueType.BOOL; value: boolean } | { type: ValueType.STRING; value: string } | { type: ValueType.ARRAY; of: ValueType.STRING; value: string[] } | { type: ValueType.ARRAY; of: ValueType.INT32; value: number[] };

const u32 = (value: number): Value => ({ type: ValueType.UINT32, value });
const f32 = (value: number): Value => ({ type: ValueType.FLOAT32, value });
const str = (value: string): Value => ({ type: ValueType.STRING, value });

interface Tensor {
  name: string;
  /** Hugging Face order: [out, in] for a matrix. */
  shape: number[];
  data: Float32Array;
  type: GgufDType;
}

/** llama.cpp's name for a Hugging Face tensor name. */
export function ggufTensorName(name: string): string {
  const fixed: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' };
  if (fixed[name]) return fixed[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  const parts: Record<string, string> = {
    input_layernorm: 'attn_norm',
    'self_attn.q_proj': 'attn_q',
    'self_attn.k_proj': 'attn_k',
    'self_attn.v_proj': 'attn_v',
    'self_attn.o_proj': 'attn_output',
    post_attention_layernorm: 'ffn_norm',
    'mlp.gate_proj': 'ffn_gate',
    'mlp.up_proj': 'ffn_up',
    'mlp.down_proj': 'ffn_down',
  };
  if (!m || !parts[m[2]]) throw new GgufError(`no GGUF name for tensor ${name}`);
  return `blk.${m[1]}.${parts[m[2]]}.${m[3]}`;
}

/**
 * Hugging Face's Llama rotates halves of each head ([x0..x31 | x32..x63]); llama.cpp's Llama
 * rotates interleaved pairs. Reordering the rows of q and k (and their biases) makes the two
 * compute the same attention, as convert_hf_to_gguf.py's permute does.
 */
export function interleaveRopeRows(data: Float32Array, heads: number, rowLength: number): Float32Array {
  const rows = data.length / rowLength;
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [from, to] of [
        [i, 2 * i],
        [half + i, 2 * i + 1],
      ]) {
        out.set(data.subarray((h * headDim + from) * rowLength, (h * headDim + from + 1) * rowLength), (h * headDim + to) * rowLength);
      }
    }
  }
  return out;
}

/** The weights with the adapter merged in: W + scale · B·A, PEFT's merge rule. */
function mergedWeight(name: string, weights: Float32Array, adapter: LoraAdapter | null): Float32Array {
  const module = adapter?.modules.get(name.replace(/\.weight$/, ''));
  if (!adapter || !module || adapter.scale === 0) return weights;
  const { a, b, inFeatures, outFeatures } = module;
  const merged = weights.slice();
  const rank = adapter.rank;
  for (let o = 0; o < outFeatures; o++) {
    for (let r = 0; r < rank; r++) {
      const factor = adapter.scale * b[o * rank + r];
      if (factor === 0) continue;
      const row = o * inFeatures;
      const aRow = r * inFeatures;
      for (let i = 0; i < inFeatures; i++) merged[row + i] += factor * a[aRow + i];
    }
  }
  return merged;
}

/** The tokenizer's vocabulary, token types and merges, as GGUF's gpt2-style BPE metadata. */
function tokenizerMetadata(modelDir: string, config: ModelConfig): [string, Value][] {
  let tokenizer: { model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] }; added_tokens?: { id: number; content: string; special: boolean }[] };
  try {
    tokenizer = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
  } catch (error) {
    throw new GgufError(`${join(modelDir, 'tokenizer.json')}: ${(error as Error).message}`);
  }
  if (tokenizer.model?.type !== 'BPE' || !tokenizer.model.vocab) throw new GgufError('only byte-level BPE tokenizers (tokenizer.json with a BPE model) can be written to GGUF');
  const tokens: string[] = Array.from({ length: config.vocabSize }, (_, i) => `[PAD${i}]`);
  const types: number[] = Array.from({ length: config.vocabSize }, () => 5); // unused
  for (const [token, id] of Object.entries(tokenizer.model.vocab)) {
    if (id >= config.vocabSize) throw new GgufError(`tokenizer.json: token id ${id} is beyond the model's vocabulary of ${config.vocabSize}`);
    tokens[id] = token;
    types[id] = 1; // normal
  }
  for (const added of tokenizer.added_tokens ?? []) {
    if (added.id >= config.vocabSize) continue;
    tokens[added.id] = added.content;
    types[added.id] = added.special ? 3 : 4; // control : user-defined
  }
  const merges = (tokenizer.model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const metadata: [string, Value][] = [
    ['tokenizer.ggml.model', str('gpt2')],
    // Qwen2's pre-tokenizer: the split this project's BPE trainer uses, save English contractions.
    ['tokenizer.ggml.pre', str('qwen2')],
    ['tokenizer.ggml.tokens', { type: ValueType.ARRAY, of: ValueType.STRING, value: tokens }],
    ['tokenizer.ggml.token_type', { type: ValueType.ARRAY, of: ValueType.INT32, value: types }],
    ['tokenizer.ggml.merges', { type: ValueType.ARRAY, of: ValueType.STRING, value: merges }],
    ['tokenizer.ggml.add_bos_token', { type: ValueType.BOOL, value: config.bosTokenId !== null }],
  ];
  if (config.eosTokenIds.length > 0) metadata.push(['tokenizer.ggml.eos_token_id', u32(config.eosTokenIds[0])]);
  if (config.bosTokenId !== null) metadata.push(['tokenizer.ggml.bos_token_id', u32(config.bosTokenId)]);
  return metadata;
}

function modelMetadata(config: ModelConfig, name: string, dtype: GgufDType): [string, Value][] {
  const arch = config.architecture === 'Qwen2ForCausalLM' ? 'qwen2' : 'llama';
  return [
    ['general.architecture', str(arch)],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ['general.alignment', u32(ALIGNMENT)],
    [`${arch}.context_length`, u32(config.maxPositions)],
    [`${arch}.embedding_length`, u32(config.hiddenSize)],
    [`${arch}.block_count`, u32(config.numLayers)],
    [`${arch}.feed_forward_length`, u32(config.intermediateSize)],
    [`${arch}.attention.head_count`, u32(config.numHeads)],
    [`${arch}.attention.head_count_kv`, u32(config.numKvHeads)],
    [`${arch}.attention.key_length`, u32(config.headDim)],
    [`${arch}.attention.value_length`, u32(config.headDim)],
    [`${arch}.rope.dimension_count`, u32(config.headDim)],
    [`${arch}.rope.freq_base`, f32(config.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(config.rmsNormEps)],
  ];
}

/** The tensors in llama.cpp's names and layout, the adapter merged in. */
function ggufTensors(config: ModelConfig, weights: ModelWeights, adapter: LoraAdapter | null, dtype: GgufDType): Tensor[] {
  const llama = config.architecture === 'LlamaForCausalLM';
  return expectedWeights(config).map(({ name, shape }) => {
    let data = mergedWeight(name, weights.read(name), adapter);
    if (llama && /\.(q|k)_proj\./.test(name)) {
      const heads = name.includes('.q_proj.') ? config.numHeads : config.numKvHeads;
      data = interleaveRopeRows(data, heads, shape.length === 2 ? shape[1] : 1);
    }
    // As llama.cpp's converter: vectors stay F32; a matrix in blocks only if its rows split into them.
    const matrix = shape.length === 2;
    const type: GgufDType = !matrix ? 'f32' : (dtype === 'q8_0' || dtype === 'q4_0') && shape[1] % BLOCK !== 0 ? 'f16' : dtype;
    return { name: ggufTensorName(name), shape, data, type };
  });
}

function encodeTensor(tensor: Tensor): Buffer {
  const { data, type } = tensor;
  if (type === 'f32') return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === 'f16') {
    const out = Buffer.alloc(data.length * 2);
    for (let i = 0; i < data.length; i++) out.writeUInt16LE(float32ToFloat16(data[i]), i * 2);
    return out;
  }
  if (type === 'q4_0') return encodeQ4_0(data);
  // Q8_0: blocks of 32 values, an F16 scale then 32 signed bytes, as ggml's quantize_row_q8_0.
  const blocks = data.length / BLOCK;
  const out = Buffer.alloc(blocks * (2 + BLOCK));
  for (let b = 0; b < blocks; b++) {
    let max = 0;
    for (let i = 0; i < BLOCK; i++) max = Math.max(max, Math.abs(data[b * BLOCK + i]));
    const d = max / 127;
    const inverse = d === 0 ? 0 : 1 / d;
    const at = b * (2 + BLOCK);
    out.writeUInt16LE(float32ToFloat16(d), at);
    for (let i = 0; i < BLOCK; i++) {
      const x = data[b * BLOCK + i] * inverse;
      out.writeInt8(Math.sign(x) * Math.round(Math.abs(x)), at + 2 + i); // roundf: halves away from zero
    }
  }
  return out;
}

/**
 * Q4_0, as ggml's quantize_row_q4_0: blocks of 32 values, an F16 scale d (the block's
 * largest-magnitude value over −8), then 16 bytes whose low nibbles hold values 0–15 and high
 * nibbles values 16–31, each floor(x / d + 8.5) capped at 15.
 */
function encodeQ4_0(data: Float32Array): Buffer {
  const blocks = data.length / BLOCK;
  const out = Buffer.alloc(blocks * (2 + BLOCK / 2));
  for (let b = 0; b < blocks; b++) {
    const from = b * BLOCK;
    let extreme = 0;
    for (let i = 0; i < BLOCK; i++) if (Math.abs(data[from + i]) > Math.abs(extreme)) extreme = data[from + i];
    const d = extreme / -8;
    const inverse = d === 0 ? 0 : 1 / d;
    const at = b * (2 + BLOCK / 2);
    out.writeUInt16LE(float32ToFloat16(d), at);
    const level = (x: number) => Math.min(15, Math.trunc(x * inverse + 8.5));
    for (let j = 0; j < BLOCK / 2; j++) out[at + 2 + j] = level(data[from + j]) | (level(data[from + j + BLOCK / 2]) << 4);
  }
  return out;
}

/** A growing little-endian byte buffer for the header. */
class HeaderWriter {
  private chunks: Buffer[] = [];
  length = 0;

  private push(buffer: Buffer): void {
    this.chunks.push(buffer);
    this.length += buffer.length;
  }

  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.push(b);
  }

  i32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.push(b);
  }

  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.push(b);
  }

  f32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(value);
    this.push(b);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }

  value(v: Value): void {
    this.u32(v.type);
    if (v.type === ValueType.UINT32) this.u32(v.value);
    else if (v.type === ValueType.INT32) this.i32(v.value);
    else if (v.type === ValueType.FLOAT32) this.f32(v.value);
    else if (v.type === ValueType.BOOL) this.push(Buffer.of(v.value ? 1 : 0));
    else if (v.type === ValueType.STRING) this.string(v.value);
    else if (v.type === ValueType.ARRAY) {
      this.u32(v.of);
      this.u64(v.value.length);
      if (v.of === ValueType.STRING) for (const s of v.value as string[]) this.string(s);
      else for (const n of v.value as number[]) this.i32(n);
    }
  }

  pad(alignment: number): void {
    const rest = this.length % alignment;
    if (rest) this.push(Buffer.alloc(alignment - rest));
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface GgufExport {
  tensors: number;
  bytes: number;
}

/**
 * Writes `out` (aside, then renamed into place: never half a file where a whole one is
 * expected). The adapter, when given, is merged into the weights.
 */
export function writeGguf(out: string, config: ModelConfig, weights: ModelWeights, options: { adapter?: LoraAdapter | null; dtype?: GgufDType; name?: string } = {}): GgufExport {
  const dtype = options.dtype ?? 'f16';
  if (!(dtype in TENSOR_TYPE)) throw new GgufError(`unknown GGUF dtype ${dtype}: f32, f16, q8_0 or q4_0`);
  const metadata = [...modelMetadata(config, options.name ?? 'gapo-assistant', dtype), ...tokenizerMetadata(weights.modelDir, config)];
  const tensors = ggufTensors(config, weights, options.adapter ?? null, dtype);
  const encoded = tensors.map(encodeTensor);

  const header = new HeaderWriter();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) {
    header.string(key);
    header.value(value);
  }
  let offset = 0;
  const offsets = encoded.map((bytes) => {
    const at = offset;
    offset += Math.ceil(bytes.length / ALIGNMENT) * ALIGNMENT;
    return at;
  });
  tensors.forEach((tensor, i) => {
    header.string(tensor.name);
    header.u32(tensor.shape.length);
    // ggml lists dimensions fastest first: [in, out] for a Hugging Face [out, in] matrix.
    for (const dim of [...tensor.shape].reverse()) header.u64(dim);
    header.u32(TENSOR_TYPE[tensor.type]);
    header.u64(offsets[i]);
  });
  header.pad(ALIGNMENT);

  function* chunks(): Generator<Uint8Array> {
    yield header.bytes();
    for (const bytes of encoded) {
      yield bytes;
      const rest = bytes.length % ALIGNMENT;
      if (rest) yield Buffer.alloc(ALIGNMENT - rest);
    }
  }
  writeFileAtomic(out, chunks());
  return { tensors: tensors.length, bytes: header.length + offset };
}
