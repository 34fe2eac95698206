// Reverse-mode automatic differentiation over the graph builder. Each op knows its
// vector-Jacobian product (VJP), written in ONNX ops into the same graph; `gradients` walks the
// forward nodes backwards from a scalar loss and emits the backward pass of exactly the nodes
// that lie between the loss and the values asked for.
//
// VJPs recompute what they need from the forward's inputs and outputs (ONNX Runtime keeps
// those alive as long as the backward uses them). Shapes are read at run time (Shape ops), so
// a VJP needs no static shape information; broadcasting is undone by `sumToShape`.
//
// Checkpointed stretches (a decoder layer each) are run again in the backward, so that what
// stays alive from the forward is one residual stream per layer (`recomputeAndBackward`).

import { onnx } from 'onnx-proto';
import { AttributeValue, GraphBuilder, Node, Value } from './graph';

export interface VjpArgs {
  g: GraphBuilder;
  node: Node;
  /** The node's inputs (null where an optional input is omitted). */
  inputs: (Value | null)[];
  outputs: Value[];
  /** The gradient reaching each output (null: none reaches it). */
  grads: (Value | null)[];
  /** Which inputs need a gradient. */
  needs: boolean[];
}

/** Returns the gradient of each input (null where none is needed or none exists). */
export type Vjp = (args: VjpArgs) => (Value | null)[];

export class AutodiffError extends Error {}

/**
 * A stretch of forward nodes (one decoder layer) whose activations the backward recomputes
 * instead of keeping: activation checkpointing. Only `input` (the residual stream entering the
 * stretch) stays alive between the forward and the backward; everything computed from it inside
 * the stretch is computed again when the gradient of `output` arrives.
 */
export interface Checkpoint {
  /** The stretch's nodes: g.nodes[start] up to, not including, g.nodes[end]. */
  start: number;
  end: number;
  input: string;
  output: string;
}

/** The gradients of the scalar `loss` with respect to each of `wrt`, added to the graph. */
export function gradients(g: GraphBuilder, loss: Value, wrt: Value[], checkpoints: Checkpoint[] = []): Value[] {
  const wanted = new Set(wrt.map((v) => v.name));
  // Values that depend on a wrt value (forward reachability)...
  const dependsOnWrt = new Set(wanted);
  for (const node of g.nodes) {
    if (!NO_GRADIENT.has(node.op) && node.inputs.some((name) => dependsOnWrt.has(name))) for (const out of node.outputs) dependsOnWrt.add(out);
  }
  if (!dependsOnWrt.has(loss.name)) throw new AutodiffError(`the loss ${loss.name} does not depend on any of ${[...wanted].join(', ')}`);
  // ...and nodes the loss depends on (backward reachability).
  const neededByLoss = new Set([loss.name]);
  const onPath: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((out) => neededByLoss.has(out))) continue;
    for (const input of node.inputs) if (input) neededByLoss.add(input);
    if (node.outputs.some((out) => dependsOnWrt.has(out))) onPath.push(node);
  }

  const grads = new Map<string, Value>();
  grads.set(loss.name, g.node('CastLike', [g.scalar(1), loss]));
  const accumulate = (name: string, grad: Value) => {
    const previous = grads.get(name);
    grads.set(name, previous ? g.node('Add', [previous, grad]) : grad);
  };
  /** Emits the VJP of one node; `original` names the values whose dependence on wrt counts. */
  const backward = (node: Node, original: Node = node) => {
    const outGrads = node.outputs.map((out) => grads.get(out) ?? null);
    if (outGrads.every((grad) => grad === null)) return;
    const vjp = vjps[node.op];
    if (!vjp) throw new AutodiffError(`no gradient for op ${node.op} (node output ${node.outputs[0]})`);
    const needs = original.inputs.map((name) => name !== '' && dependsOnWrt.has(name));
    const inputGrads = vjp({
      g,
      node,
      inputs: node.inputs.map((name) => (name ? { name } : null)),
      outputs: node.outputs.map((name) => ({ name })),
      grads: outGrads,
      needs,
    });
    node.inputs.forEach((name, i) => {
      const grad = inputGrads[i];
      if (needs[i] && grad) accumulate(name, grad);
    });
  };

  const segmentOf = checkpointIndex(g, checkpoints);
  const done = new Set<Checkpoint>();
  for (const node of onPath) {
    const segment = segmentOf.get(node);
    if (!segment) backward(node);
    else if (!done.has(segment)) {
      done.add(segment);
      recomputeAndBackward(g, segment, onPath, segmentOf, wanted, grads, backward, accumulate);
    }
  }
  return wrt.map((v) => {
    const grad = grads.get(v.name);
    // A wanted value the loss does not reach gets an explicit zero gradient.
    return grad ?? g.node('Mul', [v, g.node('CastLike', [g.scalar(0), v])]);
  });
}

/** Each checkpointed node's stretch; throws where a stretch's inside values leak out of it. */
function checkpointIndex(g: GraphBuilder, checkpoints: Checkpoint[]): Map<Node, Checkpoint> {
  const segmentOf = new Map<Node, Checkpoint>();
  for (const c of checkpoints) {
    const inside = new Set(g.nodes.slice(c.start, c.end).flatMap((n) => n.outputs));
    if (!inside.has(c.output)) throw new AutodiffError(`checkpoint output ${c.output} is not made inside its stretch`);
    // Its gradient must be whole when the stretch's backward starts: only later nodes may read it.
    if (g.nodes.slice(c.start, c.end).some((n) => n.inputs.includes(c.output))) throw new AutodiffError(`checkpoint output ${c.output} is read inside its own stretch`);
    g.nodes.forEach((n, i) => {
      if (i >= c.start && i < c.end) segmentOf.set(n, c);
      else if (n.inputs.some((name) => name !== c.output && inside.has(name))) {
        throw new AutodiffError(`a value inside the checkpoint ending in ${c.output} is used outside it (node ${n.op} → ${n.outputs[0]})`);
      }
    });
  }
  return segmentOf;
}

/**
 * The backward of one checkpointed stretch. Its forward runs again on a copy of its input that
 * carries a data dependency on the gradient of its output (input + zeroAfter(dy)): ONNX Runtime
 * cannot run the copy before that gradient exists, so the stretch's activations live only while
 * its own backward runs. Then the VJPs of the copies, in reverse.
 */
function recomputeAndBackward(
  g: GraphBuilder,
  c: Checkpoint,
  onPath: Node[],
  segmentOf: Map<Node, Checkpoint>,
  wanted: Set<string>,
  grads: Map<string, Value>,
  backward: (node: Node, original: Node) => void,
  accumulate: (name: string, grad: Value) => void,
): void {
  const dy = grads.get(c.output);
  if (!dy) return;
  const input = g.node('Add', [{ name: c.input }, g.zeroAfter([dy], dy)]);
  const renamed = new Map<string, string>([[c.input, input.name]]);
  const copies = new Map<Node, Node>();
  for (const node of g.nodes.slice(c.start, c.end)) {
    // What does not depend on the input (shapes of constants and the like) is kept as it is.
    if (!node.inputs.some((name) => renamed.has(name))) continue;
    const copy: Node = {
      ...node,
      inputs: node.inputs.map((name) => renamed.get(name) ?? name),
      outputs: node.outputs.map((name) => {
        const fresh = g.fresh(`${name}_again`);
        renamed.set(name, fresh);
        return fresh;
      }),
    };
    g.nodes.push(copy);
    copies.set(node, copy);
  }
  grads.set(renamed.get(c.output)!, dy);
  for (const node of onPath) if (segmentOf.get(node) === c) backward(copies.get(node) ?? node, node);
  let dx = grads.get(input.name);
  // ONNX Runtime orders nodes depth-first from the graph's outputs, so the stretch's weight
  // gradients (each an output) would run at the very end, keeping every stretch's activations
  // alive until then: the gradient leaving the stretch waits for them instead.
  const weightGrads = [...new Set(g.nodes.slice(c.start, c.end).flatMap((n) => n.inputs))].flatMap((name) => (wanted.has(name) && grads.has(name) ? [grads.get(name)!] : []));
  if (dx && weightGrads.length) dx = g.node('Add', [dx, g.zeroAfter(weightGrads, dx)]);
  if (dx) accumulate(c.input, dx);
  // Copies whose values no VJP read (the stretch's last Add, mostly) would run for nothing.
  let kept = [...copies.values()];
  for (;;) {
    const read = new Set(g.nodes.flatMap((n) => n.inputs));
    const unused = new Set(kept.filter((copy) => copy.outputs.every((name) => !read.has(name))));
    if (!unused.size) break;
    kept = kept.filter((copy) => !unused.has(copy));
    let w = 0;
    for (const n of g.nodes) if (!unused.has(n)) g.nodes[w++] = n;
    g.nodes.length = w;
  }
}

// ---- helpers ----------------------------------------------------------------------------

function constLike(g: GraphBuilder, value: number, like: Value): Value {
  return g.node('CastLike', [g.scalar(value), like]);
}

function int64Tensor(values: number[]): onnx.ITensorProto {
  return { dataType: onnx.TensorProto.DataType.INT64, dims: [values.length], int64Data: values };
}

/**
 * Sums `grad` over the axes along which `like` was broadcast, and reshapes it to `like`'s
 * shape: the VJP of numpy-style broadcasting. All at run time: ranks and shapes are read with
 * Shape ops, so nothing about them needs to be known when the graph is built.
 */
export function sumToShape(g: GraphBuilder, grad: Value, like: Value): Value {
  const gradShape = g.node('Shape', [grad]);
  const likeShape = g.node('Shape', [like]);
  const missing = g.node('Sub', [g.node('Shape', [gradShape]), g.node('Shape', [likeShape])]);
  const padded = g.node('Concat', [g.node('ConstantOfShape', [missing], { value: int64Tensor([1]) }), likeShape], { axis: 0 });
  const one = g.ints([1]);
  const broadcast = g.node('And', [g.node('Equal', [padded, one]), g.node('Not', [g.node('Equal', [gradShape, one])])]);
  const axes = g.node('Reshape', [g.node('NonZero', [broadcast]), g.ints([-1])]);
  const summed = g.node('ReduceSum', [grad, axes], { keepdims: 1, noop_with_empty_axes: 1 });
  return g.node('Reshape', [summed, likeShape]);
}

function zerosLike(g: GraphBuilder, x: Value): Value {
  return g.node('CastLike', [g.node('ConstantOfShape', [g.node('Shape', [x])]), x]);
}

function swapLastTwo(g: GraphBuilder, x: Value): Value {
  // Einsum's ellipsis handles any number of batch dimensions.
  return g.node('Einsum', [x], { equation: '...ij->...ji' });
}

function attr<T extends AttributeValue>(node: Node, name: string, fallback: T): T {
  return (node.attributes[name] as T | undefined) ?? fallback;
}

/** The VJP of a sum over `axes` (all axes when null): the gradient spread back over x's shape. */
function unreduce(g: GraphBuilder, grad: Value, x: Value, axes: Value | null, keepdims: number): Value {
  let expanded = grad;
  if (!keepdims && axes) expanded = g.node('Unsqueeze', [grad, axes]);
  return g.node('Expand', [expanded, g.node('Shape', [x])]);
}

// ---- the VJP of each op -------------------------------------------------------------------

const vjps: Record<string, Vjp> = {
  Identity: ({ grads }) => [grads[0]],

  Add: ({ g, inputs: [a, b], grads: [dy] }) => [sumToShape(g, dy!, a!), sumToShape(g, dy!, b!)],

  Sub: ({ g, inputs: [a, b], grads: [dy] }) => [sumToShape(g, dy!, a!), sumToShape(g, g.node('Neg', [dy!]), b!)],

  Mul: ({ g, inputs: [a, b], grads: [dy], needs }) => [
    needs[0] ? sumToShape(g, g.node('Mul', [dy!, b!]), a!) : null,
    needs[1] ? sumToShape(g, g.node('Mul', [dy!, a!]), b!) : null,
  ],

  Div: ({ g, inputs: [a, b], outputs: [y], grads: [dy], needs }) => [
    needs[0] ? sumToShape(g, g.node('Div', [dy!, b!]), a!) : null,
    needs[1] ? sumToShape(g, g.node('Neg', [g.node('Div', [g.node('Mul', [dy!, y]), b!])]), b!) : null,
  ],

  Neg: ({ g, grads: [dy] }) => [g.node('Neg', [dy!])],

  Exp: ({ g, outputs: [y], grads: [dy] }) => [g.node('Mul', [dy!, y])],

  Log: ({ g, inputs: [x], grads: [dy] }) => [g.node('Div', [dy!, x!])],

  Sqrt: ({ g, outputs: [y], grads: [dy] }) => [g.node('Div', [dy!, g.node('Mul', [y, constLike(g, 2, y)])])],

  Reciprocal: ({ g, outputs: [y], grads: [dy] }) => [g.node('Neg', [g.node('Mul', [dy!, g.node('Mul', [y, y])])])],

  Sigmoid: ({ g, outputs: [y], grads: [dy] }) => [g.node('Mul', [dy!, g.node('Mul', [y, g.node('Sub', [constLike(g, 1, y), y])])])],

  Softmax: ({ g, node, outputs: [y], grads: [dy] }) => {
    const axis = attr(node, 'axis', -1);
    const dot = g.node('ReduceSum', [g.node('Mul', [dy!, y]), g.ints([axis])], { keepdims: 1 });
    return [g.node('Mul', [y, g.node('Sub', [dy!, dot])])];
  },

  LogSoftmax: ({ g, node, outputs: [y], grads: [dy] }) => {
    const axis = attr(node, 'axis', -1);
    const total = g.node('ReduceSum', [dy!, g.ints([axis])], { keepdims: 1 });
    return [g.node('Sub', [dy!, g.node('Mul', [g.node('Exp', [y]), total])])];
  },

  ReduceSum: ({ g, node, inputs: [x, axes], grads: [dy] }) => [unreduce(g, dy!, x!, axes, attr(node, 'keepdims', 1)), null],

  ReduceMean: ({ g, node, inputs: [x, axes], outputs: [y], grads: [dy] }) => {
    const count = g.node('CastLike', [g.node('Div', [g.node('Size', [x!]), g.node('Size', [y])]), x!]);
    return [unreduce(g, g.node('Div', [dy!, count]), x!, axes, attr(node, 'keepdims', 1)), null];
  },

  MatMul: ({ g, inputs: [a, b], grads: [dy], needs }) => [
    needs[0] ? sumToShape(g, g.node('MatMul', [dy!, swapLastTwo(g, b!)]), a!) : null,
    needs[1] ? sumToShape(g, g.node('MatMul', [swapLastTwo(g, a!), dy!]), b!) : null,
  ],

  Gemm: ({ g, node, inputs: [a, b, c], grads: [dy], needs }) => {
    const alpha = attr(node, 'alpha', 1);
    const beta = attr(node, 'beta', 1);
    const transA = attr(node, 'transA', 0);
    const transB = attr(node, 'transB', 0);
    const gemm = (x: Value, y: Value, tA: number, tB: number) => g.node('Gemm', [x, y], { alpha, transA: tA, transB: tB });
    // Y = alpha · op(A) · op(B) + beta · C, with op a transpose when the flag is set.
    let da: Value | null = null;
    let db: Value | null = null;
    if (needs[0]) da = transA ? gemm(b!, dy!, transB, 1) : gemm(dy!, b!, 0, transB ? 0 : 1);
    if (needs[1]) db = transB ? gemm(dy!, a!, 1, transA) : gemm(a!, dy!, transA ? 0 : 1, 0);
    const dc = c && needs[2] ? sumToShape(g, beta === 1 ? dy! : g.node('Mul', [dy!, constLike(g, beta, dy!)]), c) : null;
    return [da, db, dc];
  },

  Reshape: ({ g, inputs: [x], grads: [dy] }) => [g.node('Reshape', [dy!, g.node('Shape', [x!])]), null],

  Unsqueeze: ({ g, inputs: [x], grads: [dy] }) => [g.node('Reshape', [dy!, g.node('Shape', [x!])]), null],

  Squeeze: ({ g, inputs: [x], grads: [dy] }) => [g.node('Reshape', [dy!, g.node('Shape', [x!])]), null],

  Expand: ({ g, inputs: [x], grads: [dy] }) => [sumToShape(g, dy!, x!), null],

  Transpose: ({ g, node, grads: [dy] }) => {
    const perm = node.attributes.perm as number[] | undefined;
    if (!perm) return [g.node('Transpose', [dy!])];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [g.node('Transpose', [dy!], { perm: inverse })];
  },

  Concat: ({ g, node, inputs, grads: [dy], needs }) => {
    const axis = attr(node, 'axis', 0);
    const sizes = g.node('Concat', inputs.map((x) => g.node('Gather', [g.node('Shape', [x!]), g.ints([axis])], { axis: 0 })), { axis: 0 });
    const parts = g.nodeMulti('Split', [dy!, sizes], { axis }, inputs.map(() => g.fresh('split')));
    return parts.map((part, i) => (needs[i] ? part : null));
  },

  Cast: ({ g, inputs: [x], grads: [dy] }) => [g.node('CastLike', [dy!, x!])],

  CastLike: ({ g, inputs: [x], grads: [dy] }) => [g.node('CastLike', [dy!, x!]), null],

  Where: ({ g, inputs: [condition, a, b], grads: [dy], needs }) => {
    const zeros = zerosLike(g, dy!);
    return [
      null,
      needs[1] ? sumToShape(g, g.node('Where', [condition!, dy!, zeros]), a!) : null,
      needs[2] ? sumToShape(g, g.node('Where', [condition!, zeros, dy!]), b!) : null,
    ];
  },

  // Two-input Max and Min: the gradient goes to the chosen input (the first on ties).
  Max: ({ g, inputs: [a, b], grads: [dy], needs }) => pick(g, g.node('GreaterOrEqual', [a!, b!]), a!, b!, dy!, needs),
  Min: ({ g, inputs: [a, b], grads: [dy], needs }) => pick(g, g.node('LessOrEqual', [a!, b!]), a!, b!, dy!, needs),

  Clip: ({ g, inputs: [x, low, high], grads: [dy] }) => {
    let inside: Value | null = null;
    if (low) inside = g.node('GreaterOrEqual', [x!, low]);
    if (high) {
      const below = g.node('LessOrEqual', [x!, high]);
      inside = inside ? g.node('And', [inside, below]) : below;
    }
    return [inside ? g.node('Where', [inside, dy!, zerosLike(g, dy!)]) : dy, null, null];
  },

  Gather: ({ g, node, inputs: [data, indices], grads: [dy] }) => {
    if (attr(node, 'axis', 0) !== 0) throw new AutodiffError('Gather gradients are only supported on axis 0');
    const index = g.node('Unsqueeze', [indices!, g.ints([-1])]);
    return [g.node('ScatterND', [zerosLike(g, data!), index, dy!], { reduction: 'add' }), null];
  },

  GatherElements: ({ g, node, inputs: [data, indices], grads: [dy] }) => [
    g.node('ScatterElements', [zerosLike(g, data!), indices!, dy!], { axis: attr(node, 'axis', 0), reduction: 'add' }),
    null,
  ],

  RMSNormalization: ({ g, node, inputs: [x, scale], grads: [dy], needs }) => {
    const axis = attr(node, 'axis', -1);
    if (axis !== -1) throw new AutodiffError('RMSNormalization gradients are only supported on the last axis');
    const axes = g.ints([-1]);
    const epsilon = constLike(g, attr(node, 'epsilon', 1e-5), x!);
    // r = 1 / sqrt(mean(x²) + ε); y = x · r · scale
    const r = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [g.node('ReduceMean', [g.node('Mul', [x!, x!]), axes], { keepdims: 1 }), epsilon])])]);
    const dyScaled = g.node('Mul', [dy!, scale!]);
    // dx = r · (dy·scale) − x · r³ · mean(dy·scale·x)
    const mixed = g.node('ReduceMean', [g.node('Mul', [dyScaled, x!]), axes], { keepdims: 1 });
    const r3 = g.node('Mul', [r, g.node('Mul', [r, r])]);
    const dx = needs[0] ? g.node('Sub', [g.node('Mul', [dyScaled, r]), g.node('Mul', [x!, g.node('Mul', [r3, mixed])])]) : null;
    const dscale = needs[1] ? sumToShape(g, g.node('Mul', [dy!, g.node('Mul', [x!, r])]), scale!) : null;
    return [dx, dscale];
  },

  // A rotation's transpose is the rotation by the opposite angle: the same op with −sin.
  RotaryEmbedding: ({ g, node, inputs: [, cos, sin, positions], grads: [dy] }) => [
    g.node('RotaryEmbedding', [dy!, cos!, g.node('Neg', [sin!]), positions], node.attributes),
    null,
    null,
    null,
  ],

  Attention: (args) => attentionVjp(args),
};

/**
 * Ops whose outputs carry no gradient, whatever their inputs: a frozen quantized weight reads
 * a trained value only through the zero that orders it after its input (model/llama.ts), whose
 * derivative is 0. Left out of the path, the products that read them compute no weight gradient.
 */
const NO_GRADIENT = new Set(['DequantizeLinear']);

function pick(g: GraphBuilder, first: Value, a: Value, b: Value, dy: Value, needs: boolean[]): (Value | null)[] {
  const zeros = zerosLike(g, dy);
  return [
    needs[0] ? sumToShape(g, g.node('Where', [first, dy, zeros]), a) : null,
    needs[1] ? sumToShape(g, g.node('Where', [first, zeros, dy]), b) : null,
  ];
}

/**
 * ONNX Attention with 3D inputs ([batch, seq, heads·dim]), grouped-query heads and a boolean
 * mask, without a KV cache: the softmax is recomputed, then the usual backward of
 * softmax(Q·Kᵀ·scale)·V, with the gradients of shared K/V heads summed over their group.
 */
function attentionVjp({ g, node, inputs, grads, needs }: VjpArgs): (Value | null)[] {
  const [q, k, v, mask, pastKey] = inputs;
  if (pastKey || inputs.length > 4) throw new AutodiffError('Attention gradients need a graph without a KV cache');
  if (node.attributes.is_causal || node.attributes.softcap || node.attributes.qk_matmul_output_mode) {
    throw new AutodiffError('Attention gradients support only an explicit mask (no is_causal, softcap or qk output mode)');
  }
  const qHeads = node.attributes.q_num_heads as number;
  const kvHeads = node.attributes.kv_num_heads as number;
  const group = qHeads / kvHeads;
  const dy = grads[0]!;
  // [B, S, H·D] → [B, H, S, D]
  const heads = (x: Value, count: number) => g.node('Transpose', [g.node('Reshape', [x, g.ints([0, 0, count, -1])])], { perm: [0, 2, 1, 3] });
  const q4 = heads(q!, qHeads);
  const k4 = heads(k!, kvHeads);
  const v4 = heads(v!, kvHeads);
  // Shared K/V heads repeated for their group of query heads: [B, Hkv, S, D] → [B, Hq, S, D].
  const q4Shape = g.node('Shape', [q4]);
  const kvShape = g.node('Concat', [g.node('Slice', [q4Shape, g.ints([0]), g.ints([2])]), g.node('Shape', [k4], { start: 2 })], { axis: 0 });
  const repeat = (x: Value) =>
    group === 1 ? x : g.node('Reshape', [g.node('Expand', [g.node('Unsqueeze', [x, g.ints([2])]), g.ints([1, 1, group, 1, 1])]), kvShape]);
  const kFull = repeat(k4);
  const vFull = repeat(v4);
  const scale =
    typeof node.attributes.scale === 'number'
      ? constLike(g, node.attributes.scale, q4)
      : g.node('Reciprocal', [g.node('Sqrt', [g.node('CastLike', [g.node('Shape', [q4], { start: 3 }), q4])])]);
  // The scale goes on Q ([B, H, S, D]) rather than on the scores ([B, H, S, S]): two fewer
  // passes over the largest tensors of the graph.
  const qScaled = g.node('Mul', [q4, scale]);
  const scores = g.node('MatMul', [qScaled, swapLastTwo(g, kFull)]);
  const masked = mask ? g.node('Where', [mask, scores, constLike(g, -3.4e38, scores)]) : scores;
  const p = g.node('Softmax', [masked], { axis: -1 });
  const dy4 = heads(dy, qHeads);
  const dvFull = g.node('MatMul', [swapLastTwo(g, p), dy4]);
  const dp = g.node('MatMul', [dy4, swapLastTwo(g, vFull)]);
  // ds: the gradient of the scaled scores Q·scale·Kᵀ.
  const ds = g.node('Mul', [p, g.node('Sub', [dp, g.node('ReduceSum', [g.node('Mul', [dp, p]), g.ints([-1])], { keepdims: 1 })])]);
  const dq4 = g.node('Mul', [g.node('MatMul', [ds, kFull]), scale]);
  const dkFull = g.node('MatMul', [swapLastTwo(g, ds), qScaled]);
  // Sum the repeated heads' gradients back onto their shared head.
  const unrepeat = (x: Value, like: Value) => {
    if (group === 1) return x;
    const grouped = g.node('Concat', [g.node('Shape', [like], { end: 2 }), g.ints([group]), g.node('Shape', [like], { start: 2 })], { axis: 0 });
    return g.node('ReduceSum', [g.node('Reshape', [x, grouped]), g.ints([2])], { keepdims: 0 });
  };
  // [B, H, S, D] → [B, S, H·D]
  const flat = (x: Value, like: Value) => g.node('Reshape', [g.node('Transpose', [x], { perm: [0, 2, 1, 3] }), g.node('Shape', [like])]);
  return [
    needs[0] ? flat(dq4, q!) : null,
    needs[1] ? flat(unrepeat(dkFull, k4), k!) : null,
    needs[2] ? flat(unrepeat(dvFull, v4), v!) : null,
    null,
  ];
}

