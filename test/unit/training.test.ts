import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Engine } from '../../server/src/model/engine';
import { LoraAdapter } from '../../server/src/model/lora';
import { readSafetensorsHeader, writeSafetensors } from '../../server/src/model/safetensors';
import { ModelWeights } from '../../server/src/model/weights';
import { AdamW, defaultAdamW } from '../../server/src/trainer/adamw';
import { CrossEntropyTrainer, PolicyTrainer, TrainerContext, TrainingSequence } from '../../server/src/trainer/trainer';
import { type PolicyLossName, policyLosses } from '../../server/src/trainer/training-graphs';
import { makeModel, tempDir } from '../helpers/models';
import { ReferenceModel } from '../helpers/reference-model';
import { seededRandom } from '../../server/src/edits/text';

const cacheDir = tempDir('cache');
const random = seededRandom(99);

function contextOf(engine: Engine): TrainerContext {
  return { config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions };
}

/** A LoRA adapter with non-zero B, so every parameter has a gradient. */
function busyAdapter(engine: Engine, seed: number): LoraAdapter {
  const adapter = LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed });
  const r = seededRandom(seed + 1);
  for (const m of adapter.modules.values()) m.b.forEach((_, i) => (m.b[i] = (r() - 0.5) * 0.2));
  return adapter;
}

/** Central difference of `loss` along a random direction of `parameters`, against the gradient. */
async function checkDirectional(parameters: Float32Array[], grads: Float32Array[], loss: () => Promise<number>, h: number, label: string): Promise<void> {
  for (let trial = 0; trial < 3; trial++) {
    const direction = parameters.map((p) => Float32Array.from(p, () => random() * 2 - 1));
    const move = (sign: number) => parameters.forEach((p, k) => p.forEach((_, i) => (p[i] += sign * h * direction[k][i])));
    move(1);
    const plus = await loss();
    move(-2);
    const minus = await loss();
    move(1);
    const numeric = (plus - minus) / (2 * h);
    const analytic = grads.reduce((sum, g, k) => sum + g.reduce((s, v, i) => s + v * direction[k][i], 0), 0);
    assert.ok(Math.abs(numeric - analytic) <= 2e-2 * Math.max(0.1, Math.abs(numeric)), `${label}, direction ${trial}: analytic ${analytic} vs numeric ${numeric}`);
  }
}

describe('LoRA gradients of the policy loss', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias'), cacheDir, threads: 1 });
  });

  for (const aggregation of ['token-mean', 'seq-mean-token-mean'] as const) {
    it(`match finite differences (${aggregation}, k3 KL on, two micro-batches)`, async () => {
      const adapter = busyAdapter(engine, 5);
      const trainer = await PolicyTrainer.create(contextOf(engine), adapter, { microBatchSize: 2, loss: { clipLow: 0.2, clipHigh: 0.28, dualClip: 10, aggregation, klCoef: 0.01 } });
      const raw = [
        { ids: [5, 6, 7, 8, 9, 10, 11], promptLength: 3, advantage: 1.2 },
        { ids: [20, 21, 22, 23, 24], promptLength: 2, advantage: -0.7 },
        { ids: [30, 31, 32, 33, 34, 35, 36, 37, 38], promptLength: 4, advantage: 0.3 },
      ];
      engine.setAdapter(adapter);
      const current = await engine.score(raw.map((s) => ({ ids: s.ids, start: s.promptLength })));
      const reference = await engine.score(raw.map((s) => ({ ids: s.ids, start: s.promptLength })), { adapter: false });
      // Old log-probs near the current ones: ratios stay inside the clip range.
      const sequences: TrainingSequence[] = raw.map((s, i) => ({
        ...s,
        oldLogprobs: current[i].logprobs.map((lp) => lp + (random() - 0.5) * 0.1),
        refLogprobs: reference[i].logprobs,
      }));
      const { grads, totals } = await trainer.lossAndGradients(sequences);
      assert.ok(totals.loss !== 0 && Number.isFinite(totals.loss));
      assert.ok(grads.every((g) => g.some((v) => v !== 0)), 'every LoRA tensor should get a gradient');
      await checkDirectional(adapter.parameters(), grads, async () => (await trainer.lossAndGradients(sequences)).totals.loss, 1e-3, aggregation);
    });
  }

  it('gives the same loss and gradients with each layer recomputed in the backward as with its activations kept', async () => {
    const adapter = busyAdapter(engine, 6);
    engine.setAdapter(adapter);
    const raw = [
      { ids: [5, 6, 7, 8, 9, 10, 11], promptLength: 3, advantage: 0.8 },
      { ids: [40, 41, 42, 43, 44], promptLength: 2, advantage: -1.1 },
    ];
    const scores = await engine.score(raw.map((s) => ({ ids: s.ids, start: s.promptLength })));
    const sequences = raw.map((s, i) => ({ ...s, oldLogprobs: scores[i].logprobs.map((lp) => lp - 0.05) }));
    const results = [];
    for (const checkpointLayers of [false, true]) {
      const trainer = await PolicyTrainer.create(contextOf(engine), adapter, { microBatchSize: 2, checkpointLayers });
      results.push(await trainer.lossAndGradients(sequences));
    }
    // The trainer asked to checkpoint really runs the layers again (their copies are named *_again).
    const graphs = readdirSync(engine.weightLayout.dir).filter((file) => file.startsWith('policy-'));
    const recomputes = (file: string) => readFileSync(join(engine.weightLayout.dir, file)).includes('_again');
    assert.ok(graphs.some((file) => file.endsWith('-checkpointed.onnx')) && graphs.some((file) => !file.endsWith('-checkpointed.onnx')), graphs.join(', '));
    for (const file of graphs) assert.equal(recomputes(file), file.endsWith('-checkpointed.onnx'), file);
    const [kept, recomputed] = results;
    assert.ok(Math.abs(kept.totals.loss - recomputed.totals.loss) <= 1e-6 * Math.abs(kept.totals.loss));
    kept.grads.forEach((grad, k) => {
      const scale = Math.max(...grad.map(Math.abs));
      assert.ok(scale > 0);
      grad.forEach((value, i) => assert.ok(Math.abs(value - recomputed.grads[k][i]) <= 1e-4 * scale, `tensor ${k}[${i}]: ${value} vs ${recomputed.grads[k][i]}`));
    });
  });

  it('reports the log-probabilities the scorer computes, and ratio 1 on-policy', async () => {
    const adapter = busyAdapter(engine, 8);
    engine.setAdapter(adapter);
    const trainer = await PolicyTrainer.create(contextOf(engine), adapter);
    const ids = [3, 4, 5, 6, 7, 8];
    const [scored] = await engine.score([{ ids, start: 2 }]);
    const { totals, tokens } = await trainer.lossAndGradients([{ ids, promptLength: 2, advantage: 1, oldLogprobs: scored.logprobs }]);
    assert.equal(tokens, 4);
    assert.ok(Math.abs(totals.ratio_sum / tokens - 1) < 1e-4);
    assert.equal(totals.clip_low_sum + totals.clip_high_sum, 0);
  });

  it('aggregates per token or per sequence as asked', async () => {
    const adapter = busyAdapter(engine, 11);
    engine.setAdapter(adapter);
    const raw = [
      { ids: [3, 4, 5, 6, 7, 8, 9], promptLength: 2, advantage: 1 }, // 5 response tokens
      { ids: [10, 11, 12], promptLength: 2, advantage: -2 }, // 1 response token
    ];
    const scores = await engine.score(raw.map((s) => ({ ids: s.ids, start: s.promptLength })));
    const sequences = raw.map((s, i) => ({ ...s, oldLogprobs: scores[i].logprobs }));
    // On-policy (ratio 1, nothing clipped) the loss is −A averaged the chosen way.
    for (const [aggregation, expected] of [
      ['token-mean', -(5 * 1 + 1 * -2) / 6],
      ['seq-mean-token-mean', -(1 + -2) / 2],
    ] as const) {
      const trainer = await PolicyTrainer.create(contextOf(engine), adapter, { microBatchSize: 1, loss: { clipLow: 0.2, clipHigh: 0.28, dualClip: 10, aggregation, klCoef: 0 } });
      const { totals } = await trainer.lossAndGradients(sequences);
      assert.ok(Math.abs(totals.loss - expected) < 1e-4, `${aggregation}: loss ${totals.loss}, expected ${expected}`);
    }
  });

  it('counts clipped tokens on each side', async () => {
    const adapter = busyAdapter(engine, 9);
    engine.setAdapter(adapter);
    const trainer = await PolicyTrainer.create(contextOf(engine), adapter);
    const ids = [3, 4, 5, 6, 7, 8];
    const [scored] = await engine.score([{ ids, start: 2 }]);
    // Old log-probs far below the current: ratio ≫ 1.28, clipped from above for A > 0 only.
    const old = scored.logprobs.map((lp) => lp - 1);
    const up = await trainer.lossAndGradients([{ ids, promptLength: 2, advantage: 1, oldLogprobs: old }]);
    assert.equal(up.totals.clip_high_sum, 4);
    const down = await trainer.lossAndGradients([{ ids, promptLength: 2, advantage: -1, oldLogprobs: scored.logprobs.map((lp) => lp + 1) }]);
    assert.equal(down.totals.clip_low_sum, 4);
    assert.equal(down.totals.clip_high_sum, 0);
  });

  it('builds its loss from the policy-loss registry, and names the known losses for an unknown one', async () => {
    assert.deepEqual(Object.keys(policyLosses), ['ppo-clip']);
    // A cast: the type admits only registered names, a setting read from a file does not.
    const unknown = { name: 'gspo' as PolicyLossName };
    await assert.rejects(PolicyTrainer.create(contextOf(engine), busyAdapter(engine, 8), { loss: unknown }), /unknown policy loss "gspo" \(known: ppo-clip\)/);
  });

  it('skips a step whose loss is not finite and keeps the adapter', async () => {
    const adapter = busyAdapter(engine, 10);
    const before = adapter.parameters().map((p) => p.slice());
    const trainer = await PolicyTrainer.create(contextOf(engine), adapter, { optimizer: { ...defaultAdamW, learningRate: 0.1 } });
    const [metrics] = await trainer.train([{ ids: [1, 2, 3, 4], promptLength: 2, advantage: 1, oldLogprobs: [Number.NaN, -1] }]);
    assert.equal(metrics.skipped, true);
    assert.equal(metrics.reason, 'non-finite loss');
    assert.equal(trainer.steps, 0);
    adapter.parameters().forEach((p, k) => assert.deepEqual(p, before[k]));
  });
});

describe('full-parameter gradients of the cross-entropy loss', () => {
  it('match finite differences for every kind of weight', async () => {
    const modelDir = makeModel('llama-gqa-untied');
    const engine = await Engine.load({ modelDir, cacheDir, threads: 1 });
    const weights = ModelWeights.open(modelDir, engine.config);
    const values = new Map(weights.specs.map((s) => [s.name, weights.read(s.name)]));
    const trainer = await CrossEntropyTrainer.create(contextOf(engine), { kind: 'full', weights: values }, { microBatchSize: 1 });
    assert.equal(trainer.parameterOrder.length, weights.specs.length);
    const sequences = [
      { ids: [10, 11, 12, 13, 14, 15], promptLength: 2 },
      { ids: [40, 41, 42, 43], promptLength: 1 },
    ];
    const { grads, loss } = await trainer.lossAndGradients(sequences);
    assert.ok(loss > 0);
    // Every layer recomputed in the backward: the same loss and gradients, the norms' included.
    const recomputed = await (await CrossEntropyTrainer.create(contextOf(engine), { kind: 'full', weights: values }, { microBatchSize: 1, checkpointLayers: true })).lossAndGradients(sequences);
    assert.ok(Math.abs(recomputed.loss - loss) <= 1e-6 * loss);
    grads.forEach((grad, k) => {
      const scale = Math.max(...grad.map(Math.abs));
      grad.forEach((value, i) => assert.ok(Math.abs(value - recomputed.grads[k][i]) <= 1e-4 * scale + 1e-9, `${trainer.parameterOrder[k]}[${i}]: ${value} vs ${recomputed.grads[k][i]}`));
    });
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.1.self_attn.k_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.norm.weight', 'lm_head.weight']) {
      const k = trainer.parameterOrder.indexOf(name);
      await checkDirectional([values.get(name)!], [grads[k]], async () => (await trainer.lossAndGradients(sequences)).loss, 2e-3, name);
    }
  });
});

describe('LoRA adapters', () => {
  let engine: Engine;
  let modelDir: string;
  before(async () => {
    modelDir = makeModel('llama-mha-head-dim');
    engine = await Engine.load({ modelDir, cacheDir, threads: 1 });
  });

  it('change the logits exactly as merged weights would', async () => {
    const adapter = busyAdapter(engine, 3);
    engine.setAdapter(adapter);
    const ids = [7, 8, 9, 10, 11];
    const { logits } = await engine.prefill(ids);
    const merged = new ReferenceModel(modelDir, adapter).logits(ids)[4];
    const base = new ReferenceModel(modelDir).logits(ids)[4];
    const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    assert.ok(diff(logits, merged) < 1e-4, `adapter logits differ from merged weights by ${diff(logits, merged)}`);
    assert.ok(diff(merged, base) > 1e-2, 'the adapter should change the logits');
    engine.setAdapter(null);
    assert.ok(diff((await engine.prefill(ids)).logits, base) < 1e-4, 'removing the adapter restores the base model');
  });

  it('round-trip through PEFT\'s layout, and load in a fresh engine', async () => {
    const adapter = busyAdapter(engine, 4);
    const dir = join(tempDir('adapter'), 'v1');
    adapter.save(dir, modelDir);
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.r, 4);
    assert.equal(config.lora_alpha, 8);
    assert.deepEqual(config.target_modules, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    const names = readSafetensorsHeader(join(dir, 'adapter_model.safetensors')).tensors.map((t) => t.name);
    assert.ok(names.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'));
    assert.ok(names.includes('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight'));
    const loaded = LoraAdapter.load(dir, engine.config);
    loaded.parameters().forEach((p, k) => assert.deepEqual(p, adapter.parameters()[k]));
    const fresh = await Engine.load({ modelDir, cacheDir, threads: 1, adapterDir: dir });
    engine.setAdapter(adapter);
    assert.deepEqual((await fresh.prefill([1, 2, 3])).logits, (await engine.prefill([1, 2, 3])).logits);
  });

  it('load an adapter that targets only some modules, the rest unchanged', () => {
    const dir = tempDir('partial-adapter');
    const q = engine.config.numHeads * engine.config.headDim;
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'], bias: 'none' }));
    writeSafetensors(join(dir, 'adapter_model.safetensors'), [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [2, engine.config.hiddenSize], data: new Float32Array(2 * engine.config.hiddenSize).fill(0.1) },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [q, 2], data: new Float32Array(q * 2).fill(0.2) },
    ]);
    const adapter = LoraAdapter.load(dir, engine.config);
    assert.equal(adapter.scale, 2);
    assert.ok(adapter.modules.get('model.layers.0.self_attn.q_proj')!.b.every((v) => Math.abs(v - 0.2) < 1e-7));
    assert.ok(adapter.modules.get('model.layers.1.mlp.up_proj')!.a.every((v) => v === 0));
  });

  it('refuse an adapter for another model, naming the tensor', () => {
    const dir = tempDir('wrong-adapter');
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4 }));
    writeSafetensors(join(dir, 'adapter_model.safetensors'), [
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', shape: [2, 7], data: new Float32Array(14) },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', shape: [32, 2], data: new Float32Array(64) },
    ]);
    assert.throws(() => LoraAdapter.load(dir, engine.config), /adapter_model\.safetensors: tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[2,7\], expected \[2,24\]/);
    assert.throws(() => LoraAdapter.load(tempDir('empty'), engine.config), /no adapter config/);
  });

  it('are written atomically: no temporary file is left, and a rewrite replaces the old one whole', () => {
    const adapter = busyAdapter(engine, 6);
    const dir = tempDir('atomic');
    adapter.save(dir);
    adapter.modules.get('model.layers.0.self_attn.q_proj')!.a[0] = 42;
    adapter.save(dir);
    assert.equal(LoraAdapter.load(dir, engine.config).modules.get('model.layers.0.self_attn.q_proj')!.a[0], 42);
    assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  });
});

describe('AdamW', () => {
  it('warms up linearly, then follows a cosine down to its floor at decaySteps, and stays there', () => {
    const optimizer = new AdamW([new Float32Array(1)], { ...defaultAdamW, learningRate: 1, warmupSteps: 2, decaySteps: 10, minLearningRate: 0.1 });
    const rates: number[] = [];
    for (let step = 0; step < 12; step++) {
      rates.push(optimizer.currentLearningRate());
      optimizer.apply([new Float32Array([1])]);
    }
    assert.deepEqual(rates.slice(0, 3), [0.5, 1, 1]);
    assert.ok(Math.abs(rates[6] - 0.55) < 1e-12, 'halfway down the cosine: the mean of peak and floor');
    assert.ok(rates.slice(2, 11).every((r, i, all) => i === 0 || r < all[i - 1]), 'falls every step');
    assert.ok(Math.abs(rates[10] - 0.1) < 1e-12 && Math.abs(rates[11] - 0.1) < 1e-12);
  });

  it('takes the textbook first step, with decoupled weight decay', () => {
    const p = Float32Array.of(1, -2);
    const optimizer = new AdamW([p], { ...defaultAdamW, learningRate: 0.1, weightDecay: 0.01, maxGradNorm: 0 });
    optimizer.apply([Float32Array.of(0.5, -3)]);
    // First step: m̂ = g, v̂ = g², so the update is sign(g) (up to ε), plus lr · wd · p.
    assert.ok(Math.abs(p[0] - (1 - 0.1 * (1 + 0.01 * 1))) < 1e-6);
    assert.ok(Math.abs(p[1] - (-2 + 0.1 * (1 + 0.01 * 2))) < 1e-6); // decay pulls −2 towards 0 too
  });

  it('clips the global gradient norm and warms the learning rate up', () => {
    const p = Float32Array.of(0, 0);
    const optimizer = new AdamW([p], { ...defaultAdamW, learningRate: 1, weightDecay: 0, maxGradNorm: 1, warmupSteps: 4 });
    assert.equal(optimizer.currentLearningRate(), 0.25);
    const { gradNorm, learningRate } = optimizer.apply([Float32Array.of(3, 4)]);
    assert.equal(gradNorm, 5);
    assert.equal(learningRate, 0.25);
    assert.equal(optimizer.currentLearningRate(), 0.5);
  });
});
