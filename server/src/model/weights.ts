// A model's weights: found in its safetensors files (one file, or shards named by
// model.safetensors.index.json), checked against the config, and converted once into a
// float32 file in the cache folder that the ONNX graphs reference as external data.
//
// Why a converted copy: ONNX Runtime's CPU kernels want float32 (checkpoints ship BF16), and
// weights that are graph initializers (rather than inputs fed on every run) are pre-packed for
// the matrix kernels, which measured 1.3–1.7× faster here, and stay on the GPU under CUDA.
// A q8 or q4 copy holds the matrices in 8- or 4-bit blocks (quantize.ts) for MatMulNBits: a
// decode step reads every weight once, so its time follows the bytes it reads.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write';
import { expectedWeights, ModelConfig, WeightSpec } from './config';
import { bitsOf, QUANT_BLOCK, quantizable, quantizeMatrix } from './quantize';
import { readSafetensorsHeader, readTensorAsFloat32, SafetensorsError, TensorEntry } from './safetensors';
import type { WeightDType } from '../protocol';

export class ModelFilesError extends Error {}

/** The tensors of a model directory, validated against its config. */
export class ModelWeights {
  private constructor(
    readonly modelDir: string,
    readonly files: string[],
    readonly entries: Map<string, TensorEntry>,
    readonly specs: WeightSpec[],
  ) {}

  static open(modelDir: string, config: ModelConfig): ModelWeights {
    const files = safetensorsFiles(modelDir);
    const entries = new Map<string, TensorEntry>();
    for (const file of files) {
      for (const entry of readSafetensorsHeader(file).tensors) entries.set(entry.name, entry);
    }
    const specs = expectedWeights(config);
    for (const spec of specs) {
      const entry = entries.get(spec.name);
      if (!entry) throw new ModelFilesError(`${modelDir}: tensor ${spec.name} is missing from ${files.map((f) => f.slice(modelDir.length + 1)).join(', ')}`);
      if (!['F32', 'F16', 'BF16'].includes(entry.dtype)) {
        throw new ModelFilesError(`${entry.file}: tensor ${spec.name} is ${entry.dtype}; expected F32, F16 or BF16`);
      }
      if (entry.shape.length !== spec.shape.length || entry.shape.some((d, i) => d !== spec.shape[i])) {
        throw new ModelFilesError(`${entry.file}: tensor ${spec.name} has shape ${JSON.stringify(entry.shape)}, but config.json implies ${JSON.stringify(spec.shape)}`);
      }
    }
    return new ModelWeights(modelDir, files, entries, specs);
  }

  read(name: string): Float32Array {
    const entry = this.entries.get(name);
    if (!entry) throw new ModelFilesError(`${this.modelDir}: no tensor ${name}`);
    return readTensorAsFloat32(entry);
  }

  /** A key that changes whenever any weight file changes. */
  fingerprint(): string {
    const hash = createHash('sha256').update(realpathSync(this.modelDir));
    for (const file of this.files) {
      const stat = statSync(file);
      hash.update(`\0${file}\0${stat.size}\0${stat.mtimeMs}`);
    }
    return hash.digest('hex').slice(0, 16);
  }
}

function safetensorsFiles(modelDir: string): string[] {
  if (!existsSync(modelDir)) throw new ModelFilesError(`${modelDir}: no such model directory`);
  const index = join(modelDir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = JSON.parse(readFileSync(index, 'utf8')).weight_map;
    } catch {
      throw new ModelFilesError(`${index}: not valid JSON`);
    }
    if (!weightMap || typeof weightMap !== 'object') throw new ModelFilesError(`${index}: no weight_map`);
    const shards = [...new Set(Object.values(weightMap))].sort();
    for (const shard of shards) {
      if (!existsSync(join(modelDir, shard))) throw new ModelFilesError(`${index}: shard ${shard} is missing`);
    }
    return shards.map((shard) => join(modelDir, shard));
  }
  const files = readdirSync(modelDir).filter((f) => f.endsWith('.safetensors')).sort();
  if (files.length === 0) throw new ModelFilesError(`${modelDir}: no *.safetensors file`);
  return files.map((f) => join(modelDir, f));
}

/** A quantized matrix's blocks: its bytes sit at the entry's offset, its scales here. */
export interface QuantizedEntry {
  bits: 4 | 8;
  scales: { offset: number; length: number };
}

/** Where each weight sits in the converted file. */
export interface WeightLayout {
  dir: string;
  file: string;
  /** f32: every weight in float32; q8 / q4: the matrices in blocks for MatMulNBits. */
  dtype: WeightDType;
  tensors: Record<string, { offset: number; length: number; shape: number[]; quantized?: QuantizedEntry }>;
}

const ALIGNMENT = 4096; // page-aligned, so ONNX Runtime may map the file instead of copying it

/**
 * Which weights a quantized cache stores in blocks: every linear layer's matrix, the output
 * layer and the embeddings (read by GatherBlockQuantized), where their rows split into blocks
 * of 32. Norms and biases stay float32.
 */
export function quantizedInCache(name: string, shape: readonly number[]): boolean {
  return (name.endsWith('_proj.weight') || name === 'lm_head.weight' || name === 'model.embed_tokens.weight') && quantizable(shape);
}

/**
 * Returns the weight file for these weights in `dtype`, writing it on first use, one folder per
 * model and dtype. The manifest is written last, so a run killed half-way leaves no manifest
 * and the next run starts over.
 */
export function prepareWeightCache(weights: ModelWeights, cacheRoot: string, dtype: WeightDType = 'f32'): WeightLayout {
  const dir = join(cacheRoot, dtype === 'f32' ? weights.fingerprint() : `${weights.fingerprint()}-${dtype}`);
  const manifestPath = join(dir, 'weights.json');
  if (existsSync(manifestPath)) {
    try {
      const layout = JSON.parse(readFileSync(manifestPath, 'utf8')) as WeightLayout;
      if ((layout.dtype ?? 'f32') === dtype && weights.specs.every((s) => layout.tensors[s.name])) return { ...layout, dtype, dir };
    } catch {
      // A damaged manifest: rebuild below.
    }
  }
  mkdirSync(dir, { recursive: true });
  const layout: WeightLayout = { dir, file: 'weights.bin', dtype, tensors: {} };
  const bits = dtype === 'f32' ? null : bitsOf(dtype);
  const aligned = (length: number) => Math.ceil(length / ALIGNMENT) * ALIGNMENT;
  let offset = 0;
  for (const spec of weights.specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (bits && quantizedInCache(spec.name, spec.shape)) {
      const length = (count * bits) / 8;
      const scales = { offset: offset + aligned(length), length: (count / QUANT_BLOCK) * 4 };
      layout.tensors[spec.name] = { offset, length, shape: spec.shape, quantized: { bits, scales } };
      offset = scales.offset + aligned(scales.length);
    } else {
      layout.tensors[spec.name] = { offset, length: count * 4, shape: spec.shape };
      offset += aligned(count * 4);
    }
  }
  const padded = (bytes: Uint8Array) => [bytes, new Uint8Array((ALIGNMENT - (bytes.byteLength % ALIGNMENT)) % ALIGNMENT)];
  const asBytes = (data: Float32Array | Uint8Array) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  function* chunks(): Generator<Uint8Array> {
    for (const spec of weights.specs) {
      const data = weights.read(spec.name);
      const entry = layout.tensors[spec.name];
      if (entry.quantized) {
        const matrix = quantizeMatrix(data, spec.shape[0], spec.shape[1], entry.quantized.bits);
        yield* padded(matrix.data);
        yield* padded(asBytes(matrix.scales));
      } else {
        yield* padded(asBytes(data));
      }
    }
  }
  try {
    writeFileAtomic(join(dir, layout.file), chunks());
  } catch (error) {
    if (error instanceof SafetensorsError || error instanceof ModelFilesError) throw error;
    throw new ModelFilesError(`cannot write the weight cache in ${dir}: ${(error as Error).message}`);
  }
  writeFileAtomic(manifestPath, Buffer.from(JSON.stringify(layout)));
  return layout;
}

export function defaultCacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'gapo-assistant', 'weights');
}
