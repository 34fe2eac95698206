// Weight-only quantization for ONNX Runtime's MatMulNBits (com.microsoft): each row of a
// [out, in] weight is cut into blocks of 32 along `in`, and each block keeps one float scale
// and 32 small integers. Symmetric, as llama.cpp's Q8_0 and Q4_0 are: 8-bit values are
// round(w / d) + 128 with d = max|w| / 127; 4-bit values are round(w / d) + 8 with d the
// block's largest-magnitude value over −8, two to a byte, the even element in the low nibble.
// MatMulNBits' default zero point is 2^(bits−1), so no zero-point tensor is stored.
//
// The same bytes serve three readers: MatMulNBits (B as [out, blocks, bytes per block]),
// GatherBlockQuantized for embeddings (data as [rows, in · bits / 8]) and DequantizeLinear for
// the training graphs' backward pass (blocked, along `in`).

import type { WeightDType } from '../protocol';

export const WEIGHT_DTYPES: readonly WeightDType[] = ['f32', 'q8', 'q4'];

export const QUANT_BLOCK = 32;

export function bitsOf(dtype: Exclude<WeightDType, 'f32'>): 4 | 8 {
  return dtype === 'q4' ? 4 : 8;
}

/** Whether a [rows, cols] matrix can be quantized in blocks along its columns. */
export function quantizable(shape: readonly number[]): boolean {
  return shape.length === 2 && shape[1] % QUANT_BLOCK === 0;
}

export interface QuantizedMatrix {
  /** [rows, cols · bits / 8] bytes. */
  data: Uint8Array;
  /** [rows, cols / 32] scales. */
  scales: Float32Array;
}

export function quantizeMatrix(weights: Float32Array, rows: number, cols: number, bits: 4 | 8): QuantizedMatrix {
  if (cols % QUANT_BLOCK !== 0) throw new Error(`cannot quantize ${cols} columns in blocks of ${QUANT_BLOCK}`);
  if (weights.length !== rows * cols) throw new Error(`expected ${rows * cols} weights, got ${weights.length}`);
  const blocks = (rows * cols) / QUANT_BLOCK;
  const data = new Uint8Array((rows * cols * bits) / 8);
  const scales = new Float32Array(blocks);
  const zero = 1 << (bits - 1);
  const max = (1 << bits) - 1;
  for (let b = 0; b < blocks; b++) {
    const from = b * QUANT_BLOCK;
    // The block's largest magnitude, with its sign (Q4_0 maps it to −8, the one extra level).
    let extreme = 0;
    for (let i = 0; i < QUANT_BLOCK; i++) {
      const w = weights[from + i];
      if (Math.abs(w) > Math.abs(extreme)) extreme = w;
    }
    const scale = extreme === 0 ? 0 : bits === 8 ? Math.abs(extreme) / 127 : extreme / -8;
    const stored = Math.fround(scale);
    scales[b] = stored;
    const inverse = stored === 0 ? 0 : 1 / stored;
    for (let i = 0; i < QUANT_BLOCK; i++) {
      const q = Math.min(max, Math.max(0, Math.round(weights[from + i] * inverse) + zero));
      if (bits === 8) data[from + i] = q;
      else data[(from + i) >> 1] |= (from + i) & 1 ? q << 4 : q;
    }
  }
  return { data, scales };
}

/** The float weights a quantized matrix stands for (tests and the quality check). */
export function dequantizeMatrix(matrix: QuantizedMatrix, rows: number, cols: number, bits: 4 | 8): Float32Array {
  const out = new Float32Array(rows * cols);
  const zero = 1 << (bits - 1);
  for (let i = 0; i < out.length; i++) {
    const q = bits === 8 ? matrix.data[i] : (matrix.data[i >> 1] >> ((i & 1) * 4)) & 15;
    out[i] = (q - zero) * matrix.scales[Math.floor(i / QUANT_BLOCK)];
  }
  return out;
}
