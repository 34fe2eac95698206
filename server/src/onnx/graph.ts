// A small builder for ONNX graphs. Nodes are kept as plain records (op, inputs, outputs,
// attributes) so that other code can walk them (the autodiff does) before the graph is
// encoded with onnx-proto into the bytes ONNX Runtime loads.

import { onnx } from 'onnx-proto';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'uint4';

const ONNX_TYPES: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  float16: onnx.TensorProto.DataType.FLOAT16,
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
  // Two to a byte, the first in the low nibble (ONNX's UINT4, newer than onnx-proto's enum).
  uint4: 21,
};

/** ONNX Runtime's contrib-op domain. */
export const MICROSOFT_DOMAIN = 'com.microsoft';

/** A named value in the graph: a graph input, an initializer or a node output. */
export interface Value {
  readonly name: string;
}

export type Dim = number | string;
export type AttributeValue = number | string | number[] | Float32Array | onnx.ITensorProto;

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
  domain: string;
}

interface TypedValue {
  name: string;
  dtype: DType;
  /** Omitted: the shape is left for ONNX Runtime to infer. */
  shape?: Dim[];
}

interface Initializer {
  name: string;
  dtype: DType;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Where an initializer's bytes live outside the model file (ONNX external data). */
export interface ExternalData {
  /** Path relative to the folder of the .onnx file. */
  location: string;
  offset: number;
  length: number;
}

interface ExternalInitializer {
  name: string;
  dtype: DType;
  dims: number[];
  external: ExternalData;
}

/** Attributes ONNX stores as FLOAT even when the JS number is whole (alpha = 1); other whole numbers are stored as INT. */
const FLOAT_ATTRIBUTES = new Set(['epsilon', 'alpha', 'beta', 'scale', 'softcap', 'value_float', 'gamma', 'min', 'max']);

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: TypedValue[] = [];
  readonly outputs: TypedValue[] = [];
  readonly initializers: Initializer[] = [];
  readonly externalInitializers: ExternalInitializer[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh, unique value name with a readable stem. */
  fresh(stem: string): string {
    return `${stem}_${this.counter++}`;
  }

  input(name: string, dtype: DType, shape: Dim[]): Value {
    this.inputs.push({ name, dtype, shape });
    return { name };
  }

  output(value: Value, name: string, dtype: DType, shape?: Dim[]): void {
    if (value.name !== name) this.node('Identity', [value], {}, [name]);
    this.outputs.push({ name, dtype, shape });
  }

  /** A constant tensor stored in the graph (keep these small: the protobuf limit is 2 GB). uint4 takes its bytes packed. */
  constant(data: number[] | Float32Array | Uint8Array, dims: number[], dtype: 'float32' | 'int64' | 'int32' | 'bool' | 'uint8' | 'uint4' = 'float32', stem = 'const'): Value {
    const name = this.fresh(stem);
    let stored: Initializer['data'];
    if (dtype === 'int64') stored = BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
    else if (dtype === 'int32') stored = Int32Array.from(data);
    else if (dtype === 'bool') stored = Uint8Array.from(data, (v) => (v ? 1 : 0));
    else if (dtype === 'uint8' || dtype === 'uint4') stored = Uint8Array.from(data);
    else stored = Float32Array.from(data);
    this.initializers.push({ name, dtype, dims, data: stored });
    return { name };
  }

  /**
   * A large constant (a weight) whose bytes stay in a separate file: the model file stays
   * small, far from protobuf's 2 GB limit, and ONNX Runtime can still pre-pack it.
   */
  external(name: string, dims: number[], external: ExternalData, dtype: DType = 'float32'): Value {
    // A weight used twice (tied embeddings) is still one initializer.
    if (!this.externalInitializers.some((t) => t.name === name)) this.externalInitializers.push({ name, dtype, dims, external });
    return { name };
  }

  /**
   * A scalar 0 (of `like`'s type) computed from `after`: added to a tensor, it makes ONNX
   * Runtime compute that tensor only once every one of `after` exists, and keeps common-
   * subexpression elimination from merging it with a twin that waits for something else.
   */
  zeroAfter(after: Value[], like: Value): Value {
    const maxima = after.map((value) => this.node('ReduceMax', [value], { keepdims: 0 }));
    const reached = maxima.length === 1 ? maxima[0] : this.node('Sum', maxima);
    return this.node('Mul', [reached, this.node('CastLike', [this.scalar(0), like])]);
  }

  scalar(value: number, dtype: 'float32' | 'int64' = 'float32'): Value {
    return this.constant([value], [], dtype, 'scalar');
  }

  ints(values: number[]): Value {
    return this.constant(values, [values.length], 'int64', 'ints');
  }

  /** Adds one node; returns its first output. Pass '' (or null) for an omitted optional input. */
  node(op: string, inputs: (Value | null)[], attributes: Record<string, AttributeValue> = {}, outputNames?: string[], domain = ''): Value {
    return this.nodeMulti(op, inputs, attributes, outputNames ?? [this.fresh(op.toLowerCase())], domain)[0];
  }

  nodeMulti(op: string, inputs: (Value | null)[], attributes: Record<string, AttributeValue>, outputNames: string[], domain = ''): Value[] {
    this.nodes.push({ op, inputs: inputs.map((v) => v?.name ?? ''), outputs: outputNames, attributes, domain });
    return outputNames.map((name) => ({ name }));
  }

  toModelProto(opset = 23): onnx.ModelProto {
    const valueInfo = (v: TypedValue) =>
      onnx.ValueInfoProto.create({
        name: v.name,
        type: {
          tensorType: {
            elemType: ONNX_TYPES[v.dtype],
            shape: v.shape ? { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
          },
        },
      });
    const graph = onnx.GraphProto.create({
      name: this.name,
      node: this.nodes.map((n) =>
        onnx.NodeProto.create({
          opType: n.op,
          domain: n.domain,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attributes).map(([name, value]) => encodeAttribute(name, value)),
        }),
      ),
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
      initializer: [...this.initializers.map((t) => encodeTensor(t)), ...this.externalInitializers.map((t) => encodeExternalTensor(t))],
    });
    return onnx.ModelProto.create({
      irVersion: 10,
      producerName: 'gapo-assistant',
      // Microsoft's contrib ops (MatMulNBits, GatherBlockQuantized) have their own opset.
      opsetImport: this.nodes.some((n) => n.domain === MICROSOFT_DOMAIN) ? [{ domain: '', version: opset }, { domain: MICROSOFT_DOMAIN, version: 1 }] : [{ domain: '', version: opset }],
      graph,
    });
  }

  /** The serialised model, ready for `InferenceSession.create(bytes)`. */
  toBytes(opset = 23): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(opset)).finish();
  }
}

function encodeTensor(t: Initializer): onnx.ITensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, dims: t.dims, dataType: ONNX_TYPES[t.dtype], rawData: bytes };
}

function encodeExternalTensor(t: ExternalInitializer): onnx.ITensorProto {
  return {
    name: t.name,
    dims: t.dims,
    dataType: ONNX_TYPES[t.dtype],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: t.external.location },
      { key: 'offset', value: String(t.external.offset) },
      { key: 'length', value: String(t.external.length) },
    ],
  };
}

function encodeAttribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return FLOAT_ATTRIBUTES.has(name) || !Number.isInteger(value) ? { name, type: A.FLOAT, f: value } : { name, type: A.INT, i: value };
  }
  if (value instanceof Float32Array) return { name, type: A.FLOATS, floats: Array.from(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  return { name, type: A.TENSOR, t: value };
}
