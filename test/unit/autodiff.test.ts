// Every op's vector-Jacobian product against central finite differences. Ops that ONNX Runtime
// runs in float64 are checked element by element with tight tolerances; the fused ops that run
// only in float32 (RMSNormalization, RotaryEmbedding, Attention) along random directions, with
// tolerances a wrong gradient cannot meet (a wrong one is off by order one).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from '../../server/src/model/ort';
import { gradients } from '../../server/src/onnx/autodiff';
import { GraphBuilder, Value } from '../../server/src/onnx/graph';
import { seededRandom } from '../../server/src/edits/text';

type DType = 'float64' | 'float32';

interface InputSpec {
  dims: number[];
  /** Values drawn from [low, high] (default [-1, 1]). */
  range?: [number, number];
  /** Fixed data (integers for indices, booleans as 0/1). */
  data?: number[];
  type?: 'float' | 'int64' | 'bool';
  differentiable?: boolean;
}

const random = seededRandom(1234);

function tensorFor(spec: InputSpec, dtype: DType, values: ArrayLike<number>): ort.Tensor {
  if (spec.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(values), (v) => BigInt(v)), spec.dims);
  if (spec.type === 'bool') return new ort.Tensor('bool', Uint8Array.from(values), spec.dims);
  return new ort.Tensor(dtype, dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values), spec.dims);
}

async function checkGradient(
  name: string,
  specs: InputSpec[],
  build: (g: GraphBuilder, inputs: Value[]) => Value,
  dtype: DType = 'float64',
  opset = 23,
): Promise<void> {
  const values = specs.map((spec) => {
    if (spec.data) return Float64Array.from(spec.data);
    const [low, high] = spec.range ?? [-1, 1];
    return Float64Array.from({ length: spec.dims.reduce((a, b) => a * b, 1) }, () => low + (high - low) * random());
  });
  const declare = (g: GraphBuilder) =>
    specs.map((spec, i) => g.input(`x${i}`, spec.type === 'int64' ? 'int64' : spec.type === 'bool' ? 'bool' : dtype, spec.dims));
  const feeds = (vals: Float64Array[]) => Object.fromEntries(specs.map((spec, i) => [`x${i}`, tensorFor(spec, dtype, vals[i])]));

  // First find the output's shape, to weight it with a fixed random cotangent.
  const probe = new GraphBuilder('probe');
  probe.output(build(probe, declare(probe)), 'y', dtype);
  const probeSession = await ort.InferenceSession.create(probe.toBytes(opset));
  const y = (await probeSession.run(feeds(values))).y;
  const weights = Array.from({ length: y.size }, () => random() * 2 - 1);

  // loss = Σ y² / 2 + Σ y · w: its cotangent y + w makes every output element matter.
  const g = new GraphBuilder(name);
  const inputs = declare(g);
  const out = build(g, inputs);
  const w = g.node('CastLike', [g.constant(weights, y.dims as number[]), out]);
  const half = g.node('CastLike', [g.scalar(0.5), out]);
  const loss = g.node('Add', [g.node('Mul', [g.node('ReduceSum', [g.node('Mul', [out, out])], { keepdims: 0 }), half]), g.node('ReduceSum', [g.node('Mul', [out, w])], { keepdims: 0 })]);
  const differentiable = specs.map((s, i) => (s.type && s.type !== 'float') || s.differentiable === false ? -1 : i).filter((i) => i >= 0);
  const grads = gradients(g, loss, differentiable.map((i) => inputs[i]));
  g.output(loss, 'loss', dtype, []);
  grads.forEach((grad, j) => g.output(grad, `grad${j}`, dtype, specs[differentiable[j]].dims));
  const session = await ort.InferenceSession.create(g.toBytes(opset));
  const lossAt = async (vals: Float64Array[]) => Number((await session.run(feeds(vals), ['loss'])).loss.data[0]);
  const analytic = await session.run(feeds(values));

  for (const [j, i] of differentiable.entries()) {
    const grad = Array.from(analytic[`grad${j}`].data as Float64Array, Number);
    assert.equal(grad.length, values[i].length, `${name}: gradient ${i} has the wrong size`);
    if (dtype === 'float64') {
      const h = 1e-6;
      for (let e = 0; e < values[i].length; e++) {
        const plus = values.map((v) => v.slice());
        const minus = values.map((v) => v.slice());
        plus[i][e] += h;
        minus[i][e] -= h;
        const numeric = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
        assert.ok(Math.abs(numeric - grad[e]) <= 1e-5 * Math.max(1, Math.abs(numeric)), `${name}: d/dx${i}[${e}] analytic ${grad[e]} vs numeric ${numeric}`);
      }
    } else {
      const h = 1e-2;
      for (let trial = 0; trial < 3; trial++) {
        const direction = Float64Array.from(values[i], () => random() * 2 - 1);
        const plus = values.map((v, k) => (k === i ? v.map((x, e) => x + h * direction[e]) : v));
        const minus = values.map((v, k) => (k === i ? v.map((x, e) => x - h * direction[e]) : v));
        const numeric = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * h);
        const projected = grad.reduce((s, gv, e) => s + gv * direction[e], 0);
        assert.ok(Math.abs(numeric - projected) <= 1e-2 * Math.max(1, Math.abs(numeric)), `${name}: direction ${trial} of x${i}: analytic ${projected} vs numeric ${numeric}`);
      }
    }
  }
}

const positive: [number, number] = [0.5, 2];

describe('vector-Jacobian products against finite differences', () => {
  const cases: [string, InputSpec[], (g: GraphBuilder, x: Value[]) => Value, DType?][] = [
    ['Add with broadcasting', [{ dims: [2, 3, 4] }, { dims: [3, 1] }], (g, [a, b]) => g.node('Add', [a, b])],
    ['Sub with broadcasting', [{ dims: [4] }, { dims: [2, 3, 4] }], (g, [a, b]) => g.node('Sub', [a, b])],
    ['Mul with broadcasting', [{ dims: [2, 3, 4] }, { dims: [1, 3, 1] }], (g, [a, b]) => g.node('Mul', [a, b])],
    ['Div', [{ dims: [3, 4] }, { dims: [4], range: positive }], (g, [a, b]) => g.node('Div', [a, b])],
    ['Neg, Exp', [{ dims: [5] }], (g, [a]) => g.node('Exp', [g.node('Neg', [a])])],
    ['Log, Sqrt, Reciprocal', [{ dims: [6], range: positive }], (g, [a]) => g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [g.node('Log', [a]), a])])])],
    ['Sigmoid', [{ dims: [2, 5] }], (g, [a]) => g.node('Sigmoid', [a])],
    ['Softmax on the last axis', [{ dims: [2, 3, 5] }], (g, [a]) => g.node('Softmax', [a], { axis: -1 })],
    ['Softmax on a middle axis', [{ dims: [2, 3, 5] }], (g, [a]) => g.node('Softmax', [a], { axis: 1 })],
    ['LogSoftmax', [{ dims: [4, 6] }], (g, [a]) => g.node('LogSoftmax', [a], { axis: -1 })],
    ['ReduceSum keeping dims', [{ dims: [2, 3, 4] }], (g, [a]) => g.node('ReduceSum', [a, g.ints([1])], { keepdims: 1 })],
    ['ReduceSum dropping dims', [{ dims: [2, 3, 4] }], (g, [a]) => g.node('ReduceSum', [a, g.ints([0, 2])], { keepdims: 0 })],
    ['ReduceSum of everything', [{ dims: [2, 3] }], (g, [a]) => g.node('ReduceSum', [a], { keepdims: 0 })],
    ['ReduceMean', [{ dims: [2, 3, 4] }], (g, [a]) => g.node('ReduceMean', [a, g.ints([-1])], { keepdims: 0 })],
    ['MatMul', [{ dims: [3, 4] }, { dims: [4, 5] }], (g, [a, b]) => g.node('MatMul', [a, b])],
    ['batched MatMul with broadcasting', [{ dims: [2, 1, 3, 4] }, { dims: [3, 4, 2] }], (g, [a, b]) => g.node('MatMul', [a, b])],
    ['Gemm', [{ dims: [3, 4] }, { dims: [4, 5] }, { dims: [5] }], (g, [a, b, c]) => g.node('Gemm', [a, b, c], { alpha: 0.7, beta: 1.3 })],
    ['Gemm with transB', [{ dims: [3, 4] }, { dims: [5, 4] }], (g, [a, b]) => g.node('Gemm', [a, b], { transB: 1 })],
    ['Gemm with transA', [{ dims: [4, 3] }, { dims: [4, 5] }, { dims: [3, 5] }], (g, [a, b, c]) => g.node('Gemm', [a, b, c], { transA: 1 })],
    ['Gemm with both transposes', [{ dims: [4, 3] }, { dims: [5, 4] }], (g, [a, b]) => g.node('Gemm', [a, b], { transA: 1, transB: 1, alpha: 2 })],
    ['Reshape, Transpose, Unsqueeze', [{ dims: [2, 6] }], (g, [a]) => g.node('Unsqueeze', [g.node('Transpose', [g.node('Reshape', [a, g.ints([2, 3, 2])])], { perm: [2, 0, 1] }), g.ints([1])])],
    ['Expand', [{ dims: [3, 1] }], (g, [a]) => g.node('Expand', [a, g.ints([2, 3, 4])])],
    ['Concat', [{ dims: [2, 3] }, { dims: [2, 1] }], (g, [a, b]) => g.node('Concat', [a, b, a], { axis: 1 })],
    ['Where', [{ dims: [2, 3], type: 'bool', data: [1, 0, 1, 1, 0, 0] }, { dims: [2, 3] }, { dims: [3] }], (g, [c, a, b]) => g.node('Where', [c, a, b])],
    ['Max and Min', [{ dims: [6] }, { dims: [6] }], (g, [a, b]) => g.node('Add', [g.node('Max', [a, b]), g.node('Mul', [g.node('Min', [a, b]), a])])],
    ['Clip', [{ dims: [8], data: [-0.9, -0.5, -0.1, 0.05, 0.15, 0.3, 0.6, 0.95] }], (g, [a]) => g.node('Clip', [a, g.node('CastLike', [g.scalar(-0.4), a]), g.node('CastLike', [g.scalar(0.5), a])])],
    ['Gather (embedding rows, repeated)', [{ dims: [5, 3] }, { dims: [2, 3], type: 'int64', data: [0, 4, 0, 2, 2, 1] }], (g, [e, i]) => g.node('Gather', [e, i], { axis: 0 })],
    ['GatherElements', [{ dims: [3, 5] }, { dims: [3, 1], type: 'int64', data: [4, 0, 2] }], (g, [a, i]) => g.node('GatherElements', [a, i], { axis: 1 })],
    ['Cast and CastLike', [{ dims: [4] }], (g, [a]) => g.node('Mul', [g.node('CastLike', [a, a]), a])],
  ];
  for (const [name, specs, build, dtype] of cases) {
    it(name, () => checkGradient(name, specs, build, dtype));
  }

  it('RMSNormalization (float32)', () =>
    checkGradient('RMSNormalization', [{ dims: [2, 3, 8] }, { dims: [8], range: positive }], (g, [x, w]) => g.node('RMSNormalization', [x, w], { axis: -1, epsilon: 1e-5 }), 'float32'));

  it('RotaryEmbedding (float32)', () => {
    const half = 4;
    const cos = Array.from({ length: 16 * half }, (_, k) => Math.cos(Math.floor(k / half) * 0.3 ** (k % half)));
    const sin = Array.from({ length: 16 * half }, (_, k) => Math.sin(Math.floor(k / half) * 0.3 ** (k % half)));
    return checkGradient(
      'RotaryEmbedding',
      [{ dims: [2, 3, 16] }, { dims: [2, 3], type: 'int64', data: [0, 1, 2, 5, 6, 7] }],
      (g, [x, p]) =>
        g.node('RotaryEmbedding', [x, g.node('CastLike', [g.constant(cos, [16, half]), x]), g.node('CastLike', [g.constant(sin, [16, half]), x]), p], { num_heads: 2, interleaved: 0 }),
      'float32',
    );
  });

  for (const [label, qHeads, kvHeads] of [
    ['grouped-query', 4, 2],
    ['multi-head', 2, 2],
  ] as const) {
    it(`Attention, ${label}, with a causal mask (float32)`, () => {
      const seq = 4;
      const causal = Array.from({ length: 2 * seq * seq }, (_, k) => (k % seq <= Math.floor(k / seq) % seq ? 1 : 0));
      return checkGradient(
        `Attention ${label}`,
        [{ dims: [2, seq, qHeads * 3] }, { dims: [2, seq, kvHeads * 3] }, { dims: [2, seq, kvHeads * 3] }, { dims: [2, 1, seq, seq], type: 'bool', data: causal }],
        (g, [q, k, v, m]) => g.node('Attention', [q, k, v, m], { q_num_heads: qHeads, kv_num_heads: kvHeads }),
        'float32',
      );
    });
  }
});

describe('activation checkpointing', () => {
  // Two residual stretches, each with a weight of its own: x → x + h² · sigmoid(h), h = x·W.
  function build(checkpoint: boolean) {
    const g = new GraphBuilder('checkpointed');
    const x0 = g.input('x', 'float64', [3, 4]);
    const weights = [g.input('w0', 'float64', [4, 4]), g.input('w1', 'float64', [4, 4])];
    const stretches = [];
    let x = x0;
    for (const w of weights) {
      const start = g.nodes.length;
      const h = g.node('MatMul', [x, w]);
      const input = x;
      // (h² rather than h: ONNX Runtime fuses h · sigmoid(h) into an op with no float64 kernel.)
      x = g.node('Add', [x, g.node('Mul', [g.node('Mul', [h, h]), g.node('Sigmoid', [h])])]);
      stretches.push({ start, end: g.nodes.length, input: input.name, output: x.name });
    }
    const loss = g.node('ReduceSum', [g.node('Mul', [x, x])], { keepdims: 0 });
    const forward = new Set(g.nodes.flatMap((n) => n.outputs));
    // A stretch's output is the next one's input (the checkpoint itself): kept by design.
    const inside = new Set(stretches.flatMap((s) => g.nodes.slice(s.start, s.end).flatMap((n) => n.outputs).filter((name) => name !== s.output)));
    const backwardStart = g.nodes.length;
    const grads = gradients(g, loss, [x0, ...weights], checkpoint ? stretches : []);
    g.output(loss, 'loss', 'float64', []);
    grads.forEach((grad, i) => g.output(grad, `grad${i}`, 'float64'));
    const backwardReads = new Set(g.nodes.slice(backwardStart).flatMap((n) => n.inputs));
    const keptInside = [...backwardReads].filter((name) => forward.has(name) && inside.has(name));
    return { g, keptInside };
  }

  it('gives the gradients of kept activations, and keeps none of a stretch\'s inside values for the backward', async () => {
    const values = Object.fromEntries(['x', 'w0', 'w1'].map((name, i) => [name, new ort.Tensor('float64', Float64Array.from({ length: i ? 16 : 12 }, () => random() * 2 - 1), i ? [4, 4] : [3, 4])]));
    const kept = build(false);
    const recomputed = build(true);
    // Without checkpoints the backward reads the stretches' products and sigmoids; with them, only the stretch inputs.
    assert.ok(kept.keptInside.length >= 4, `kept: ${kept.keptInside.join(', ')}`);
    assert.deepEqual(recomputed.keptInside, []);
    const run = async (g: GraphBuilder) => (await ort.InferenceSession.create(g.toBytes())).run(values);
    const [a, b] = [await run(kept.g), await run(recomputed.g)];
    for (const name of ['loss', 'grad0', 'grad1', 'grad2']) {
      const [u, v] = [a[name].data as Float64Array, b[name].data as Float64Array];
      u.forEach((value, i) => assert.ok(Math.abs(value - v[i]) <= 1e-12 * Math.max(1, Math.abs(value)), `${name}[${i}]: ${value} vs ${v[i]}`));
    }
  });

  it('refuses a stretch whose inside values are read outside it', () => {
    const g = new GraphBuilder('leaky');
    const x = g.input('x', 'float64', [2]);
    const h = g.node('Sigmoid', [x]);
    const y = g.node('Mul', [h, x]);
    const loss = g.node('ReduceSum', [g.node('Add', [y, h])], { keepdims: 0 });
    assert.throws(() => gradients(g, loss, [x], [{ start: 0, end: 2, input: x.name, output: y.name }]), /used outside it/);
  });
});
