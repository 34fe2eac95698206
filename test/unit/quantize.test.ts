import assert from 'node:assert/strict';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readModelConfig } from '../../server/src/model/config';
import { Engine } from '../../server/src/model/engine';
import { dequantizeMatrix, QUANT_BLOCK, quantizeMatrix } from '../../server/src/model/quantize';
import { writeSafetensors } from '../../server/src/model/safetensors';
import { ModelWeights, prepareWeightCache, quantizedInCache } from '../../server/src/model/weights';
import { LoraAdapter } from '../../server/src/model/lora';
import { PolicyTrainer, TrainingSequence } from '../../server/src/trainer/trainer';
import { buildCrossEntropyGraph, buildPolicyTrainingGraph, defaultPolicyLoss } from '../../server/src/trainer/training-graphs';
import { makeModel, tempDir } from '../helpers/models';

const prompt = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 40, 41, 59]; // "Hello world();"

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  let state = seed;
  const next = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Float32Array.from({ length: rows * cols }, () => next() * next() * 0.1);
}

/** A copy of a model whose quantizable weights are replaced by what their blocks stand for. */
function dequantizedCopy(modelDir: string, bits: 4 | 8): string {
  const dir = tempDir(`dequantized-q${bits}`);
  cpSync(modelDir, dir, { recursive: true });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.safetensors'))) rmSync(join(dir, file));
  const weights = ModelWeights.open(modelDir, readModelConfig(modelDir));
  const tensors = weights.specs.map(({ name, shape }) => {
    const data = weights.read(name);
    if (!quantizedInCache(name, shape)) return { name, shape, data };
    return { name, shape, data: dequantizeMatrix(quantizeMatrix(data, shape[0], shape[1], bits), shape[0], shape[1], bits) };
  });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('block quantization', () => {
  for (const bits of [8, 4] as const) {
    it(`keeps every ${bits}-bit weight within half a step of its block's scale, and each block's extreme exactly`, () => {
      // 4-bit levels run from −8 to +7 steps, the extreme at −8: the other side clamps at +7 (as Q4_0 does).
      const rows = 6;
      const cols = 4 * QUANT_BLOCK;
      const weights = randomMatrix(rows, cols, bits);
      const matrix = quantizeMatrix(weights, rows, cols, bits);
      assert.equal(matrix.data.length, (rows * cols * bits) / 8);
      assert.equal(matrix.scales.length, (rows * cols) / QUANT_BLOCK);
      const restored = dequantizeMatrix(matrix, rows, cols, bits);
      for (let block = 0; block < matrix.scales.length; block++) {
        const step = Math.abs(matrix.scales[block]);
        let extreme = 0;
        for (let i = block * QUANT_BLOCK; i < (block + 1) * QUANT_BLOCK; i++) {
          const clamped = bits === 4 && weights[i] / matrix.scales[block] > 7.5;
          const want = clamped ? 7 * matrix.scales[block] : weights[i];
          assert.ok(Math.abs(restored[i] - want) <= step / 2 + 1e-7, `weight ${i}: ${weights[i]} became ${restored[i]} (step ${step})`);
          if (Math.abs(weights[i]) > Math.abs(weights[extreme + block * QUANT_BLOCK])) extreme = i - block * QUANT_BLOCK;
        }
        const at = block * QUANT_BLOCK + extreme;
        assert.ok(Math.abs(restored[at] - weights[at]) < 1e-6 * Math.abs(weights[at]) + 1e-9, `block ${block}'s largest weight moved`);
      }
    });
  }

  it('stores an all-zero block as zeros, not NaN', () => {
    const matrix = quantizeMatrix(new Float32Array(QUANT_BLOCK), 1, QUANT_BLOCK, 4);
    assert.deepEqual([...dequantizeMatrix(matrix, 1, QUANT_BLOCK, 4)], new Array(QUANT_BLOCK).fill(0));
  });

  it('refuses rows that do not split into blocks of 32', () => {
    assert.throws(() => quantizeMatrix(new Float32Array(2 * 40), 2, 40, 8), /cannot quantize 40 columns in blocks of 32/);
  });
});

// Test models mix both kinds of weights: 32-wide matrices are quantized, 40- and 48-wide ones stay float32.
for (const dtype of ['q8', 'q4'] as const) {
  describe(`engine with ${dtype} weights`, () => {
    const bits = dtype === 'q8' ? 8 : 4;
    const cacheDir = tempDir(`cache-${dtype}`);
    let modelDir: string;
    let quantized: Engine;
    let reference: Engine;
    let original: Engine;

    before(async () => {
      modelDir = makeModel('qwen2-tied-bias');
      quantized = await Engine.load({ modelDir, cacheDir, threads: 1, dtype });
      reference = await Engine.load({ modelDir: dequantizedCopy(modelDir, bits), cacheDir, threads: 1 });
      original = await Engine.load({ modelDir, cacheDir, threads: 1 });
    });
    after(() => {
      quantized.dispose();
      reference.dispose();
      original.dispose();
    });

    it('computes what its blocks stand for: the logits of the float32 model with dequantized weights', async () => {
      const want = await reference.prefill(prompt);
      const got = await quantized.prefill(prompt);
      const range = Math.max(...want.logits) - Math.min(...want.logits);
      assert.ok(range > 1, 'reference logits are nearly flat');
      // accuracy_level 4 multiplies in int8 (activations quantized per block): close, not exact.
      const diff = maxAbsDiff(got.logits, want.logits);
      assert.ok(diff < 0.02 * range, `max |Δlogit| ${diff} against a range of ${range}`);
      // ...and the quantization is real: the original float32 weights give other logits.
      const exact = await original.prefill(prompt);
      assert.ok(maxAbsDiff(exact.logits, want.logits) > 1e-4, 'the dequantized weights equal the originals');
    });

    it('decodes step by step with the KV cache to the logits of a prefill', async () => {
      quantized.clearPrefixCache();
      const whole = await quantized.prefill(prompt);
      quantized.clearPrefixCache();
      await quantized.prefill(prompt.slice(0, 8));
      const stepwise = await quantized.prefill(prompt); // reuses the 8-token prefix, decodes the rest
      assert.ok(maxAbsDiff(whole.logits, stepwise.logits) < 1e-3);
    });

    it(`keeps its cache beside the float32 one, ${bits === 8 ? 'about a quarter' : 'about an eighth'} of the bytes for the quantized matrices`, () => {
      const config = readModelConfig(modelDir);
      const weights = ModelWeights.open(modelDir, config);
      const small = prepareWeightCache(weights, cacheDir, dtype);
      const full = prepareWeightCache(weights, cacheDir, 'f32');
      assert.notEqual(small.dir, full.dir);
      assert.equal(small.dtype, dtype);
      const names = Object.keys(small.tensors).filter((name) => small.tensors[name].quantized);
      assert.ok(names.includes('model.embed_tokens.weight') && names.some((n) => n.endsWith('q_proj.weight')), `quantized: ${names.join(', ')}`);
      assert.ok(Object.keys(small.tensors).some((n) => n.endsWith('down_proj.weight') && !small.tensors[n].quantized), '40-wide rows stay float32');
      for (const name of names) assert.equal(small.tensors[name].length * (32 / bits), full.tensors[name].length, name);
      // A second load finds the cache and does not rewrite it.
      const written = statSync(join(small.dir, small.file)).mtimeMs;
      prepareWeightCache(weights, cacheDir, dtype);
      assert.equal(statSync(join(small.dir, small.file)).mtimeMs, written);
    });

    it('trains LoRA on its blocks (QLoRA): the loss and gradients of the float32 model with dequantized weights', async () => {
      const adapter = LoraAdapter.create(quantized.config, { rank: 4, alpha: 8, seed: 3 });
      for (const m of adapter.modules.values()) m.b.forEach((_, i) => (m.b[i] = ((i % 7) - 3) * 0.03));
      const sequences: TrainingSequence[] = [
        { ids: prompt, promptLength: 6, advantage: 0.9 },
        { ids: prompt.slice(3, 12), promptLength: 4, advantage: -0.6 },
      ];
      const results = [];
      for (const engine of [quantized, reference]) {
        engine.setAdapter(adapter);
        const scores = await engine.score(sequences.map((s) => ({ ids: s.ids, start: s.promptLength })));
        const withOld = sequences.map((s, i) => ({ ...s, oldLogprobs: scores[i].logprobs.map((lp) => lp - 0.02) }));
        const context = { config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions };
        const trainer = await PolicyTrainer.create(context, adapter, { microBatchSize: 2 });
        // The same old log-probs for both, so that only the weights differ.
        results.push({ trainer, withOld });
      }
      const [onBlocks, onFloats] = [
        await results[0].trainer.lossAndGradients(results[1].withOld),
        await results[1].trainer.lossAndGradients(results[1].withOld),
      ];
      assert.equal(quantized.weightLayout.dtype, dtype);
      assert.ok(Math.abs(onBlocks.totals.loss - onFloats.totals.loss) <= 1e-5 * Math.max(1, Math.abs(onFloats.totals.loss)), `loss ${onBlocks.totals.loss} vs ${onFloats.totals.loss}`);
      onFloats.grads.forEach((grad, k) => {
        const scale = Math.max(...grad.map(Math.abs));
        assert.ok(scale > 0);
        assert.ok(maxAbsDiff(onBlocks.grads[k], grad) <= 1e-4 * scale, `tensor ${k}: ${maxAbsDiff(onBlocks.grads[k], grad)} against ${scale}`);
      });
      // Rollouts sample from MatMulNBits (int8 products); the trainer multiplies in float32: on
      // its own samples' log-probs (shifted by the 0.02 above) the ratio stays by exp(0.02).
      const own = await results[0].trainer.lossAndGradients(results[0].withOld);
      const meanRatio = own.totals.ratio_sum / own.tokens;
      assert.ok(Math.abs(meanRatio - Math.exp(0.02)) < 0.01, `mean ratio ${meanRatio}`);
    });

    it('computes no gradient for the frozen quantized weights: as many products as on float32 weights', () => {
      const config = readModelConfig(modelDir);
      const weights = ModelWeights.open(modelDir, config);
      const products = (layout: ReturnType<typeof prepareWeightCache>) => buildPolicyTrainingGraph(config, layout, defaultPolicyLoss).graph.nodes.filter((n) => n.op === 'Gemm').length;
      const blocks = prepareWeightCache(weights, cacheDir, dtype);
      assert.ok(Object.values(blocks.tensors).some((t) => t.quantized));
      assert.equal(products(blocks), products(prepareWeightCache(weights, cacheDir, 'f32')));
    });

    it('refuses to train every weight on quantized weights, saying why', () => {
      const config = readModelConfig(modelDir);
      const layout = prepareWeightCache(ModelWeights.open(modelDir, config), cacheDir, dtype);
      assert.throws(() => buildCrossEntropyGraph(config, layout, 'full'), new RegExp(`training every weight needs the float32 weight cache, not ${dtype}`));
    });
  });
}

describe('engine dtype option', () => {
  it('rejects an unknown dtype with the ones it knows', async () => {
    await assert.rejects(Engine.load({ modelDir: makeModel('qwen2-tied-bias'), cacheDir: tempDir('cache'), dtype: 'q2' as never }), /unknown weight dtype q2: f32, q8, q4/);
  });
});
