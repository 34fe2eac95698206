// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw data. Reading validates every entry so
// that a truncated or inconsistent file is a clear error naming the file and the tensor.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'BOOL' | 'F64';

const BYTES_PER_ELEMENT: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, BOOL: 1, F64: 8 };

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  file: string;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Reads and validates a file's header; returns its tensors (without their data). */
export function readSafetensorsHeader(file: string): { tensors: TensorEntry[]; metadata: Record<string, string> } {
  const fd = openFile(file);
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(`${file}: too short to be a safetensors file (${size} bytes)`);
    const lengthBytes = Buffer.alloc(8);
    readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
      throw new SafetensorsError(`${file}: header length ${headerLength} does not fit in the file (${size} bytes); is it truncated or not safetensors?`);
    }
    const headerBytes = Buffer.alloc(headerLength);
    readSync(fd, headerBytes, 0, headerLength, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBytes.toString('utf8'));
    } catch {
      throw new SafetensorsError(`${file}: the header is not valid JSON`);
    }
    const dataStart = 8 + headerLength;
    const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    const tensors: TensorEntry[] = [];
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const entry = raw as { dtype?: string; shape?: unknown; data_offsets?: unknown };
      const dtype = entry.dtype as SafetensorsDType;
      if (!(dtype in BYTES_PER_ELEMENT)) throw new SafetensorsError(`${file}: tensor ${name} has unsupported dtype ${entry.dtype}`);
      const shape = entry.shape;
      const offsets = entry.data_offsets;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new SafetensorsError(`${file}: tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
      }
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
        throw new SafetensorsError(`${file}: tensor ${name} has invalid data_offsets ${JSON.stringify(offsets)}`);
      }
      const byteLength = offsets[1] - offsets[0];
      const expected = shape.reduce((a: number, b: number) => a * b, 1) * BYTES_PER_ELEMENT[dtype];
      if (byteLength !== expected) {
        throw new SafetensorsError(`${file}: tensor ${name} holds ${byteLength} bytes, but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
      }
      if (dataStart + offsets[1] > size) {
        throw new SafetensorsError(`${file}: tensor ${name} ends at byte ${dataStart + offsets[1]}, past the end of the file (${size} bytes): the file is truncated`);
      }
      tensors.push({ name, dtype, shape, file, offset: dataStart + offsets[0], byteLength });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Reads one tensor's data converted to float32 (F32, F16, BF16 and F64 sources). */
export function readTensorAsFloat32(entry: TensorEntry): Float32Array {
  const raw = readTensorBytes(entry);
  const count = entry.byteLength / BYTES_PER_ELEMENT[entry.dtype];
  const out = new Float32Array(count);
  switch (entry.dtype) {
    case 'F32':
      out.set(new Float32Array(raw.buffer, raw.byteOffset, count));
      return out;
    case 'F64': {
      const view = new Float64Array(raw.buffer, raw.byteOffset, count);
      for (let i = 0; i < count; i++) out[i] = view[i];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift it into place.
      const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      return out;
    }
    case 'F16': {
      const halves = new Uint16Array(raw.buffer, raw.byteOffset, count);
      for (let i = 0; i < count; i++) out[i] = float16ToFloat32(halves[i]);
      return out;
    }
    default:
      throw new SafetensorsError(`${entry.file}: tensor ${entry.name} is ${entry.dtype}, expected a floating-point type`);
  }
}

function readTensorBytes(entry: TensorEntry): Uint8Array {
  // An 8-byte aligned buffer, so typed-array views of any element size fit.
  const buffer = new Uint8Array(new ArrayBuffer(Math.ceil(entry.byteLength / 8) * 8), 0, entry.byteLength);
  const fd = openFile(entry.file);
  try {
    let done = 0;
    while (done < entry.byteLength) {
      const read = readSync(fd, buffer, done, Math.min(entry.byteLength - done, 1 << 30), entry.offset + done);
      if (read === 0) throw new SafetensorsError(`${entry.file}: tensor ${entry.name} is cut short: the file is truncated`);
      done += read;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type StorageDType = 'F32' | 'F16' | 'BF16';

/** Writes float32 tensors as a safetensors file (stored as F32, F16 or BF16), atomically. */
export function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}, dtype: StorageDType = 'F32'): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor ${t.name}: shape ${JSON.stringify(t.shape)} does not match ${t.data.length} values`);
    const bytes = encodeFloats(t.data, dtype);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    payloads.push(bytes);
    offset += bytes.byteLength;
  }
  const unpadded = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad the header with spaces so the data starts 8-byte aligned, as the format recommends.
  const jsonBytes = Buffer.concat([unpadded, Buffer.alloc((8 - (unpadded.length % 8)) % 8, ' ')]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(jsonBytes.length));
  writeFileAtomic(file, [length, jsonBytes, ...payloads]);
}

function encodeFloats(data: Float32Array, dtype: StorageDType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.length);
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) out[i] = dtype === 'BF16' ? float32BitsToBfloat16(bits[i]) : float32ToFloat16(data[i]);
  return new Uint8Array(out.buffer);
}

/** Round to nearest even, as PyTorch converts float32 to bfloat16. */
function float32BitsToBfloat16(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return 0x7fc0; // NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function float32ToFloat16(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (Number.isNaN(value)) return 0x7e00;
  if (magnitude >= 65520) return sign | 0x7c00; // rounds to infinity
  if (magnitude < 2 ** -24) return sign; // underflows to zero
  if (magnitude < 2 ** -14) return sign | Math.round(magnitude / 2 ** -24); // subnormal
  let exponent = Math.floor(Math.log2(magnitude));
  let fraction = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  if (fraction === 1024) {
    exponent += 1;
    fraction = 0;
  }
  return sign | ((exponent + 15) << 10) | fraction;
}

function openFile(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (error) {
    throw new SafetensorsError(`${file}: cannot open (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
}
