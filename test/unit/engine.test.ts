import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../server/src/model/engine';
import { emptyCache, selectRows } from '../../server/src/model/kv-cache';
import { logSoftmax, ReferenceModel } from '../helpers/reference-model';
import { makeModel, tempDir, testConfigs } from '../helpers/models';

const cacheDir = tempDir('cache');
const prompt = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 40, 41, 59]; // "Hello world();"

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

for (const variant of Object.keys(testConfigs)) {
  describe(`engine on ${variant}`, () => {
    let modelDir: string;
    let engine: Engine;
    let reference: ReferenceModel;
    let expected: Float64Array[];

    before(async () => {
      modelDir = makeModel(variant);
      engine = await Engine.load({ modelDir, cacheDir, threads: 1 });
      reference = new ReferenceModel(modelDir);
      expected = reference.logits(prompt);
    });
    after(() => engine.dispose());

    it('matches the float64 reference logits within 1e-4 after a prefill', async () => {
      engine.clearPrefixCache();
      const { logits } = await engine.prefill(prompt);
      const diff = maxAbsDiff(logits, expected[prompt.length - 1]);
      assert.ok(diff < 1e-4, `max |Δlogit| = ${diff}`);
      // The comparison means something only if the logits are far from flat.
      const last = expected[prompt.length - 1];
      assert.ok(Math.max(...last) - Math.min(...last) > 1, 'reference logits are nearly flat');
    });

    it('decodes token by token with the KV cache to the same logits as recomputing', async () => {
      let cache = emptyCache(engine.config, 1);
      for (let t = 0; t < prompt.length; t++) {
        const out = await engine.runDecoder([[prompt[t]]], cache);
        cache = out.cache;
        const diff = maxAbsDiff(out.logits, expected[t]);
        assert.ok(diff < 1e-4, `position ${t}: max |Δlogit| = ${diff}`);
      }
      assert.equal(cache.length, prompt.length);
    });

    it('scores log-probabilities like the reference, and a padded batch like its rows alone', async () => {
      const sequences = [
        { ids: prompt, start: 3 },
        { ids: prompt.slice(0, 6), start: 1 },
        { ids: [...prompt].reverse(), start: 10 },
      ];
      const batch = await engine.score(sequences);
      for (const [i, request] of sequences.entries()) {
        const ref = reference.logits(request.ids).map(logSoftmax);
        const want = request.ids.slice(request.start).map((token, j) => ref[request.start + j - 1][token]);
        assert.ok(maxAbsDiff(batch[i].logprobs, want) < 1e-4, `sequence ${i} differs from the reference`);
        const [alone] = await engine.score([request]);
        assert.ok(maxAbsDiff(batch[i].logprobs, alone.logprobs) < 1e-5, `sequence ${i}: batch and single differ`);
        assert.ok(batch[i].entropy.every((h) => h > 0 && h <= Math.log(engine.config.vocabSize) + 1e-4));
      }
    });
  });
}

describe('generation', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias'), cacheDir, threads: 1 });
  });
  after(() => engine.dispose());

  it('decodes greedily the argmax of the reference, step by step', async () => {
    const reference = new ReferenceModel(makeModel('qwen2-tied-bias'));
    const [greedy] = await engine.generate(prompt, { maxTokens: 6, temperature: 0 });
    const ids = [...prompt];
    for (const token of greedy.tokens) {
      const logits = reference.logits(ids).at(-1)!;
      assert.equal(token, logits.indexOf(Math.max(...logits)));
      ids.push(token);
    }
    assert.equal(greedy.tokens.length, 6);
    assert.equal(greedy.finishReason, 'length');
  });

  it('draws G samples from one prefill, reproducibly for a seed', async () => {
    const options = { maxTokens: 12, temperature: 1.5, samples: 4, seed: 11 };
    const first = await engine.generate(prompt, options);
    const again = await engine.generate(prompt, options);
    const other = await engine.generate(prompt, { ...options, seed: 12 });
    assert.equal(first.length, 4);
    assert.deepEqual(again, first);
    assert.notDeepEqual(other.map((g) => g.tokens), first.map((g) => g.tokens));
    assert.ok(new Set(first.map((g) => g.tokens.join())).size > 1, 'the samples should differ from each other');
  });

  it('gives each sampled token its log-probability under the model', async () => {
    const [sample] = await engine.generate(prompt, { maxTokens: 5, temperature: 1, seed: 3 });
    const [scored] = await engine.score([{ ids: [...prompt, ...sample.tokens], start: prompt.length }]);
    assert.ok(maxAbsDiff(sample.logprobs, scored.logprobs) < 1e-4);
  });

  it('decodes each of G samples on its own row of the cache: every token its log-probability under the model', async () => {
    const samples = await engine.generate(prompt, { maxTokens: 6, temperature: 1.5, samples: 3, seed: 7 });
    const scored = await engine.score(samples.map((sample) => ({ ids: [...prompt, ...sample.tokens], start: prompt.length })));
    samples.forEach((sample, row) => assert.ok(maxAbsDiff(sample.logprobs, scored[row].logprobs) < 1e-4, `sample ${row}`));
  });

  it('honours top-k 1 as greedy and a tiny top-p as greedy', async () => {
    const [greedy] = await engine.generate(prompt, { maxTokens: 8 });
    const [topK] = await engine.generate(prompt, { maxTokens: 8, temperature: 1, topK: 1, seed: 5 });
    const [topP] = await engine.generate(prompt, { maxTokens: 8, temperature: 1, topP: 1e-6, seed: 5 });
    assert.deepEqual(topK.tokens, greedy.tokens);
    assert.deepEqual(topP.tokens, greedy.tokens);
  });

  it('stops at a stop string, cutting the text before it', async () => {
    const [full] = await engine.generate(prompt, { maxTokens: 10 });
    const stop = full.text.slice(3, 5);
    const [stopped] = await engine.generate(prompt, { maxTokens: 10, stop: [stop] });
    assert.equal(stopped.finishReason, 'stop');
    assert.equal(stopped.text, full.text.slice(0, full.text.indexOf(stop)));
  });

  it('ends an answer before the first token less likely than the confidence gate', async () => {
    const [full] = await engine.generate(prompt, { maxTokens: 12 });
    const probabilities = full.logprobs.map(Math.exp);
    // A gate between the least and the most likely token: the answer must end before the first token under it.
    const gate = (Math.min(...probabilities) + Math.max(...probabilities)) / 2;
    const firstUnsure = probabilities.findIndex((p) => p < gate);
    assert.ok(firstUnsure >= 0);
    const [gated] = await engine.generate(prompt, { maxTokens: 12, minProbability: gate });
    assert.equal(gated.finishReason, 'unsure');
    assert.deepEqual(gated.tokens, full.tokens.slice(0, firstUnsure));
    const [open] = await engine.generate(prompt, { maxTokens: 12, minProbability: Math.min(...probabilities) / 2 });
    assert.deepEqual(open.tokens, full.tokens, 'a gate under every token changes nothing');
  });

  it('stops at EOS without emitting it', async () => {
    // Make EOS the greedy choice by prompting with what the model predicts after the prompt.
    const eosModel = makeModel('qwen2-tied-bias');
    const probe = await Engine.load({ modelDir: eosModel, cacheDir, threads: 1 });
    try {
      const [first] = await probe.generate(prompt, { maxTokens: 1 });
      (probe.tokenizer.eosIds as number[]).splice(0, Infinity, first.tokens[0]);
      const [stopped] = await probe.generate(prompt, { maxTokens: 5 });
      assert.equal(stopped.finishReason, 'eos');
      assert.deepEqual(stopped.tokens, []);
    } finally {
      await probe.dispose();
    }
  });

  it('reuses the cache of a shared prompt prefix and computes the same logits as cold', async () => {
    engine.clearPrefixCache();
    await engine.prefill(prompt);
    const edited = [...prompt.slice(0, 10), 65, 66, 67];
    const warm = await engine.prefill(edited);
    assert.equal(engine.lastReusedTokens, 10);
    engine.clearPrefixCache();
    const cold = await engine.prefill(edited);
    assert.equal(engine.lastReusedTokens, 0);
    assert.ok(maxAbsDiff(warm.logits, cold.logits) < 1e-5);
    // The same prompt again still runs its last token to get logits.
    await engine.prefill(edited);
    assert.equal(engine.lastReusedTokens, edited.length - 1);
  });

  it('answers the same prompt the same after its answer was decoded into the reused cache', async () => {
    // One sample decodes on in the prompt's own cache buffers; the prefix kept for reuse must not see those positions.
    engine.clearPrefixCache();
    const [first] = await engine.generate(prompt, { maxTokens: 6, temperature: 0 });
    const [again] = await engine.generate(prompt, { maxTokens: 6, temperature: 0 });
    assert.equal(engine.lastReusedTokens, prompt.length - 1);
    assert.deepEqual(again.tokens, first.tokens);
    const edited = [...prompt.slice(0, 9), ...first.tokens.slice(0, 2).map((t) => (t + 1) % engine.config.vocabSize)];
    const warm = await engine.prefill(edited);
    engine.clearPrefixCache();
    const cold = await engine.prefill(edited);
    assert.ok(maxAbsDiff(warm.logits, cold.logits) < 1e-5);
  });

  it('grows a full cache and decodes on to the logits of a cold prefill', async () => {
    engine.clearPrefixCache();
    const { cache } = await engine.prefill(prompt.slice(0, 5));
    let full = selectRows(cache, [0], engine.config, 5); // no room left: the next step must grow it
    assert.equal(full.capacity, 5);
    let logits: Float32Array = new Float32Array(0);
    for (const token of prompt.slice(5)) ({ logits, cache: full } = await engine.runDecoder([[token]], full));
    assert.ok(full.capacity > 5 && full.length === prompt.length);
    engine.clearPrefixCache();
    assert.ok(maxAbsDiff(logits, (await engine.prefill(prompt)).logits) < 1e-4);
  });

  it('keeps the end of a prompt longer than the model allows', async () => {
    const long = Array.from({ length: 300 }, (_, i) => 40 + (i % 50));
    const [result] = await engine.generate(long, { maxTokens: 4 });
    assert.equal(result.tokens.length, 4);
  });

  it('rejects token ids outside the vocabulary', async () => {
    await assert.rejects(engine.generate([1, 2, 999]), /token id 999 at position 2 is outside the vocabulary/);
    await assert.rejects(engine.score([{ ids: [1, 2], start: 0 }]), /start 0/);
    // Scoring from the end scores nothing, alone or beside another sequence.
    assert.deepEqual(await engine.score([{ ids: [1, 2, 3], start: 3 }]), [{ logprobs: [], entropy: [] }]);
    const [empty, one] = await engine.score([{ ids: [1, 2, 3], start: 3 }, { ids: [4, 5], start: 1 }]);
    assert.equal(empty.logprobs.length, 0);
    assert.equal(one.logprobs.length, 1);
  });
});
