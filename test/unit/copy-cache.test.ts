// The copy cache (server/src/model/copy-cache.ts): the distribution the server samples from, the
// scorer's and the trainer's are one and the same mixture, and it is the one its definition
// gives (a float64 reference here, PyTorch's in test/reference/copy_cache.py).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../../server/src/edits/text';
import { parseModelConfig } from '../../server/src/model/config';
import { CopyHistory } from '../../server/src/model/copy-cache';
import { Engine } from '../../server/src/model/engine';
import { LoraAdapter } from '../../server/src/model/lora';
import { PolicyTrainer } from '../../server/src/trainer/trainer';
import { makeModel, tempDir, testConfigs } from '../helpers/models';
import { repoRoot } from '../helpers/paths';
import { copyMixtureLogprobs, logSoftmax, ReferenceModel } from '../helpers/reference-model';

const cacheDir = tempDir('cache');
const copy = { theta: 0.15, lambda: 0.4 };
// Repeats, so that copying has something to say: "abc(x, y) { abc(x".
const prompt = [97, 98, 99, 40, 120, 44, 32, 121, 41, 32, 123, 32, 97, 98, 99, 40, 120];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('copy cache settings', () => {
  it('are read from gapo_copy_cache and refused when malformed', () => {
    const raw = testConfigs['qwen2-tied-bias'];
    assert.deepEqual(parseModelConfig({ ...raw, gapo_copy_cache: copy }).copyCache, copy);
    assert.equal(parseModelConfig(raw).copyCache, undefined);
    for (const bad of [{ theta: 0.1 }, { theta: 0.1, lambda: 1 }, { theta: 'x', lambda: 0.3 }, { theta: 0.1, lambda: -0.1 }, 3]) {
      assert.throws(() => parseModelConfig({ ...raw, gapo_copy_cache: bad }), /gapo_copy_cache/);
    }
  });

  it('mix a history into the model: the cache adds each copied token its similarity share, the rest keeps 1 − λ', () => {
    // Three positions of 2-dimensional states; the last resembles the first.
    const history = new CopyHistory(2, Float32Array.of(1, 0, 0, 1, 1, 0), [5, 6, 7]);
    const logits = Float32Array.from({ length: 10 }, (_, v) => v * 0.1);
    const lse = Math.log(logits.reduce((s, x) => s + Math.exp(x), 0));
    const out = history.mix(logits, lse, { theta: 2, lambda: 0.5 }, new Float32Array(10));
    // Position 0 (state [1,0], dot 1) copies 6, position 1 ([0,1], dot 0) copies 7.
    const w0 = Math.exp(2) / (Math.exp(2) + 1);
    const p = (v: number) => Math.exp(logits[v] - lse);
    assert.ok(Math.abs(out[6] - Math.log(0.5 * p(6) + 0.5 * w0)) < 1e-6);
    assert.ok(Math.abs(out[7] - Math.log(0.5 * p(7) + 0.5 * (1 - w0))) < 1e-6);
    assert.ok(Math.abs(out[3] - Math.log(0.5 * p(3))) < 1e-6);
    assert.ok(Math.abs(Array.from(out).reduce((s, x) => s + Math.exp(x), 0) - 1) < 1e-6, 'a distribution');
    // One position: nothing earlier to copy, the model alone.
    const alone = new CopyHistory(2, Float32Array.of(1, 0), [5]).mix(logits, lse, { theta: 2, lambda: 0.5 }, new Float32Array(10));
    assert.ok(maxAbsDiff(alone, Array.from(logits, (x) => x - lse)) < 1e-6);
  });
});

for (const variant of ['qwen2-tied-bias', 'llama-gqa-untied']) {
  describe(`copy cache on ${variant}`, () => {
    let modelDir: string;
    let engine: Engine;
    let reference: ReferenceModel;

    before(async () => {
      modelDir = makeModel(variant, {}, { gapo_copy_cache: copy });
      engine = await Engine.load({ modelDir, cacheDir, threads: 1 });
      reference = new ReferenceModel(modelDir);
    });
    after(() => engine.dispose());

    it('scores the mixture its definition gives (float64 reference), which differs from the model alone', async () => {
      const sequences = [{ ids: prompt, start: 1 }, { ids: prompt.slice(0, 9), start: 4 }];
      const scored = await engine.score(sequences);
      const alone = await engine.score(sequences, { copyCache: null });
      for (const [i, { ids, start }] of sequences.entries()) {
        const mixture = copyMixtureLogprobs(reference, ids, copy.theta, copy.lambda);
        const want = ids.slice(start).map((token, j) => mixture[start + j - 1][token]);
        assert.ok(maxAbsDiff(scored[i].logprobs, want) < 1e-4, `sequence ${i}: max |Δ| ${maxAbsDiff(scored[i].logprobs, want)}`);
        const model = reference.logits(ids).map(logSoftmax);
        assert.ok(maxAbsDiff(alone[i].logprobs, ids.slice(start).map((token, j) => model[start + j - 1][token])) < 1e-4);
      }
      assert.ok(maxAbsDiff(scored[0].logprobs, alone[0].logprobs) > 0.05, 'the cache should move the log-probabilities');
    });

    it('decodes greedily the argmax of the mixture, step by step, with and without a reused prefix', async () => {
      for (const reuse of [false, true]) {
        if (!reuse) engine.clearPrefixCache();
        else await engine.generate(prompt.slice(0, 12), { maxTokens: 2 }); // leaves a shared prefix
        const [greedy] = await engine.generate(prompt, { maxTokens: 6, temperature: 0 });
        if (reuse) assert.ok(engine.lastReusedTokens >= 10, `reused ${engine.lastReusedTokens}`);
        const ids = [...prompt];
        for (const token of greedy.tokens) {
          const mixture = copyMixtureLogprobs(reference, ids, copy.theta, copy.lambda).at(-1)!;
          assert.equal(token, mixture.indexOf(Math.max(...mixture)));
          ids.push(token);
        }
        assert.equal(greedy.tokens.length, 6);
      }
    });

    it('gives each of G samples the log-probabilities the scorer gives (what GAPO\'s ratio reads)', async () => {
      const samples = await engine.generate(prompt, { maxTokens: 8, temperature: 1, samples: 3, seed: 4 });
      const scored = await engine.score(samples.map((s) => ({ ids: [...prompt, ...s.tokens], start: prompt.length })));
      assert.ok(new Set(samples.map((s) => s.tokens.join())).size > 1, 'the samples should differ');
      samples.forEach((sample, row) => assert.ok(maxAbsDiff(sample.logprobs, scored[row].logprobs) < 1e-4, `sample ${row}`));
    });

    it('trains on the same mixture: served samples are on-policy for the trainer (ratio 1)', async () => {
      const adapter = LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed: 3 });
      const r = seededRandom(4);
      for (const m of adapter.modules.values()) m.b.forEach((_, i) => (m.b[i] = (r() - 0.5) * 0.2));
      engine.setAdapter(adapter);
      const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter);
      const samples = await engine.generate(prompt, { maxTokens: 6, temperature: 1, samples: 2, seed: 9 });
      const sequences = samples.map((s, i) => ({ ids: [...prompt, ...s.tokens], promptLength: prompt.length, advantage: i === 0 ? 1 : -1, oldLogprobs: s.logprobs }));
      const { totals, tokens } = await trainer.lossAndGradients(sequences);
      assert.ok(Math.abs(totals.ratio_sum / tokens - 1) < 1e-4, `mean ratio ${totals.ratio_sum / tokens}`);
      // Against the model alone's log-probs the ratio is not 1: the trainer really reads the mixture.
      const alone = await engine.score(sequences.map((s) => ({ ids: s.ids, start: prompt.length })), { copyCache: null });
      const off = await trainer.lossAndGradients(sequences.map((s, i) => ({ ...s, oldLogprobs: alone[i].logprobs })));
      assert.ok(Math.abs(off.totals.ratio_sum / tokens - 1) > 1e-3);
      engine.setAdapter(null);
    });

    it('gives LoRA gradients through the mixture that match finite differences', async () => {
      const adapter = LoraAdapter.create(engine.config, { rank: 2, alpha: 4, seed: 5 });
      const r = seededRandom(6);
      for (const m of adapter.modules.values()) m.b.forEach((_, i) => (m.b[i] = (r() - 0.5) * 0.2));
      const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter);
      engine.setAdapter(adapter);
      const ids = prompt;
      const [scored] = await engine.score([{ ids, start: 8 }]);
      const sequences = [{ ids, promptLength: 8, advantage: 0.9, oldLogprobs: scored.logprobs.map((lp) => lp + 0.03) }];
      const { grads } = await trainer.lossAndGradients(sequences);
      const parameters = adapter.parameters();
      const random = seededRandom(7);
      for (let trial = 0; trial < 2; trial++) {
        const direction = parameters.map((p) => Float32Array.from(p, () => random() * 2 - 1));
        const move = (sign: number) => parameters.forEach((p, k) => p.forEach((_, i) => (p[i] += sign * 1e-3 * direction[k][i])));
        move(1);
        const plus = (await trainer.lossAndGradients(sequences)).totals.loss;
        move(-2);
        const minus = (await trainer.lossAndGradients(sequences)).totals.loss;
        move(1);
        const numeric = (plus - minus) / 2e-3;
        const analytic = grads.reduce((sum, g, k) => sum + g.reduce((s, v, i) => s + v * direction[k][i], 0), 0);
        assert.ok(Math.abs(numeric - analytic) <= 2e-2 * Math.max(0.1, Math.abs(numeric)), `direction ${trial}: analytic ${analytic} vs numeric ${numeric}`);
      }
      engine.setAdapter(null);
    });

    const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
    it('scores what PyTorch computes from the definition (test/reference/copy_cache.py)', { skip: torch.status !== 0 ? 'python3-torch is not installed (.ci/run installs it)' : false }, async () => {
      const sequences = [prompt, prompt.slice(3, 14), [...prompt].reverse()];
      const result = spawnSync('/usr/bin/python3', [join(repoRoot, 'test/reference/copy_cache.py'), modelDir, String(copy.theta), String(copy.lambda)], {
        input: sequences.map((s) => JSON.stringify(s)).join('\n') + '\n',
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stderr);
      const want = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as number[]);
      const scored = await engine.score(sequences.map((ids) => ({ ids, start: 1 })));
      sequences.forEach((_, i) => assert.ok(maxAbsDiff(scored[i].logprobs, want[i]) < 1e-4, `sequence ${i}: max |Δ| ${maxAbsDiff(scored[i].logprobs, want[i])}`));
    });
  });
}
