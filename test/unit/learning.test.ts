// GAPO really learns: on a small synthetic task where the reward rises with a learnable
// behaviour (writing lowercase letters), a few dozen steps raise the mean reward well above
// where it started, for several seeds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Engine } from '../../server/src/model/engine';
import { LoraAdapter } from '../../server/src/model/lora';
import { evaluateEpisodes } from '../../server/src/gapo/evaluate';
import { gapoRun } from '../../server/src/gapo/gapo-run';
import { rolloutAndUpdate } from '../../server/src/gapo/rollout';
import { defaultAdamW } from '../../server/src/trainer/adamw';
import { PolicyTrainer } from '../../server/src/trainer/trainer';
import { makeModel, tempDir } from '../helpers/models';

const cacheDir = tempDir('cache');

/** Share of lowercase letters in the text: about 10% for a random byte-level model. */
function letterShare(text: string): number {
  const chars = [...text];
  return chars.length === 0 ? 0 : chars.filter((c) => c >= 'a' && c <= 'z').length / chars.length;
}

describe('GAPO learning', () => {
  for (const seed of [1, 2, 3]) {
    it(`raises the mean reward on a synthetic task (seed ${seed})`, async (t) => {
      const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed }), cacheDir, threads: 1 });
      const adapter = LoraAdapter.create(engine.config, { rank: 8, alpha: 16, seed });
      const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, {
        optimizer: { ...defaultAdamW, learningRate: 2e-2, warmupSteps: 2 },
        microBatchSize: 16,
      });
      const prompts = ['fn ', 'let ', 'x = ', 'if ('].map((prompt, i) => ({ id: `p${i}`, prompt, groundTruth: '' }));
      const rewards: number[] = [];
      for (let step = 0; step < 40; step++) {
        const result = await rolloutAndUpdate(engine, trainer, prompts, {
          group: 8,
          maxTokens: 8,
          estimator: 'gapo',
          seed: seed * 1000 + step,
          reward: (prediction) => letterShare(prediction),
        });
        assert.ok(result.metrics.every((m) => !m.skipped));
        rewards.push(result.meanReward);
      }
      const start = (rewards[0] + rewards[1] + rewards[2]) / 3;
      const end = (rewards[37] + rewards[38] + rewards[39]) / 3;
      t.diagnostic(`mean reward ${start.toFixed(3)} → ${end.toFixed(3)}`);
      assert.ok(end > start + 0.2, `mean reward went from ${start} to ${end}`);
      await engine.dispose();
    });
  }
});

describe('the rollout the user saw', () => {
  it('joins its group as one of the G, with its outcome bonus on top of its reward', async () => {
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed: 5 }), cacheDir, threads: 1 });
    const adapter = LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed: 5 });
    const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, { microBatchSize: 8 });
    const result = await rolloutAndUpdate(engine, trainer, [{ id: 'p', prompt: 'fn ', groundTruth: 'abc', shown: { completion: 'abc', bonus: 0.75 } }], {
      group: 4,
      maxTokens: 4,
      seed: 1,
      reward: (prediction, target) => (prediction === target ? 1 : 0),
    });
    const [group] = result.groups;
    assert.equal(group.rewards.length, 4, 'G rollouts in all: three sampled, one shown');
    assert.equal(group.samples[3], 'abc');
    assert.equal(group.rewards[3], 1.75);
    assert.ok(group.advantages[3] > 0 && group.advantages[3] === Math.max(...group.advantages), 'the accepted suggestion gets the largest advantage');
    assert.ok(result.metrics.every((m) => !m.skipped));
    await engine.dispose();
  });

  it("fits the prompt to the model's context, leaving room for a shown completion longer than the sampled ones", async () => {
    // 64 positions, a 200-byte prompt, 4 sampled tokens and a 30-byte shown completion: the
    // prompt is cut so that prompt + shown completion fit, as serving cuts its prompts.
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed: 6 }, { max_position_embeddings: 64 }), cacheDir, threads: 1 });
    const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed: 6 }), { microBatchSize: 8 });
    const shown = 'x'.repeat(30);
    const result = await rolloutAndUpdate(engine, trainer, [{ id: 'long', prompt: 'p'.repeat(200), groundTruth: shown, shown: { completion: shown, bonus: 0 } }], {
      group: 3,
      maxTokens: 4,
      seed: 2,
      reward: (prediction, target) => (prediction === target ? 1 : 0),
    });
    assert.equal(result.groups[0].samples.length, 3);
    assert.equal(result.groups[0].samples[2], shown);
    assert.ok(result.metrics.every((m) => !m.skipped));
    await engine.dispose();
  });
});

describe("the user's own edit in the group (guided)", () => {
  it('joins its group as one of the G with its reward, beside the shown completion, and leads the advantages when no sample is right', async () => {
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed: 7 }), cacheDir, threads: 1 });
    const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed: 7 }), { microBatchSize: 8 });
    const before = (await engine.score([{ ids: [...engine.tokenizer.encode('fn '), ...engine.tokenizer.encode('abc')], start: engine.tokenizer.encode('fn ').length }]))[0].logprobs;
    const result = await rolloutAndUpdate(engine, trainer, [{ id: 'p', prompt: 'fn ', groundTruth: 'abc', shown: { completion: 'abx', bonus: -0.25 }, demonstration: 'abc' }], {
      group: 5,
      maxTokens: 4,
      seed: 3,
      reward: (prediction, target) => (prediction === target ? 1 : 0),
    });
    const [group] = result.groups;
    assert.equal(group.rewards.length, 5, 'G in all: three sampled, the shown one and the demonstration');
    assert.deepEqual(group.samples.slice(3), ['abx', 'abc']);
    assert.deepEqual(group.rewards.slice(3), [-0.25, 1]);
    assert.equal(group.advantages[4], Math.max(...group.advantages), 'the right answer gets the largest advantage');
    assert.ok(group.advantages[4] > 0);
    assert.ok(result.metrics.every((m) => !m.skipped));
    const after = (await engine.score([{ ids: [...engine.tokenizer.encode('fn '), ...engine.tokenizer.encode('abc')], start: engine.tokenizer.encode('fn ').length }]))[0].logprobs;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.ok(sum(after) > sum(before), `the update made the user's edit more likely: ${sum(before).toFixed(3)} → ${sum(after).toFixed(3)}`);
    await engine.dispose();
  });
});

describe('held-out evaluation', () => {
  it('scores a rewrite the model does not finish as the region unchanged, as the editor shows nothing', async () => {
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed: 4 }), cacheDir, threads: 1 });
    try {
      const episodes = [
        { id: 'a', language: 'javascript', path: 'a.js', history: [], prefix: '', region: 'let a = 1;\n', suffix: '', cursor: 0, target: 'let a = 1;\n' },
        { id: 'b', language: 'javascript', path: 'b.js', history: [], prefix: '', region: 'let b = 1;\n', suffix: '', cursor: 0, target: 'let b = 2;\n' },
      ];
      // One token is never the end marker's whole text: no rewrite finishes.
      const result = await evaluateEpisodes(engine, episodes, 1);
      assert.equal(result.finished, 0);
      assert.equal(result.exact_match, result.baseline.exact_match);
      assert.equal(result.edit_similarity, result.baseline.edit_similarity);
      assert.equal(result.baseline.exact_match, 0.5);
    } finally {
      await engine.dispose();
    }
  });
});

describe('a GAPO run in a fill-in-the-middle format', () => {
  it('prompts in the format, scores each answer as the region it makes, and trains on a shown insertion', async () => {
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias', { seed: 6 }), cacheDir, threads: 1, promptFormat: 'fim-spm' });
    const adapter = LoraAdapter.create(engine.config, { rank: 4, alpha: 8, seed: 6 });
    const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, { microBatchSize: 8 });
    const episode = { id: 'e1', language: 'javascript', path: 'a.js', history: [], prefix: 'let x;\n', region: 'f(\n', suffix: 'g();\n', cursor: 2, target: 'f(x)\n' };
    // Not shown: learned as typed, 'old' deleted and the cursor where 'x' goes.
    const replaced = { ...episode, id: 'e2', region: 'f(old)\n', cursor: 0 };
    const scored: string[] = [];
    const run = gapoRun(engine, trainer, [{ episode, shown: { rewritten: 'f(x)\n', bonus: 0.5 } }, { episode: replaced }], {
      steps: 1,
      promptsPerStep: 2,
      group: 3,
      estimator: 'gapo',
      tau: 0.5,
      maxTokens: 4,
      temperature: 1,
      seed: 2,
      reward: (rewritten, target) => {
        scored.push(rewritten);
        return rewritten === target ? 1 : 0;
      },
    });
    const [summary] = await collect(run);
    const shownGroup = summary.groups.findIndex((g) => g.id === 'e1');
    const groups = shownGroup === 0 ? [scored.slice(0, 3), scored.slice(3)] : [scored.slice(3), scored.slice(0, 3)];
    assert.equal(scored.length, 6, 'G = 3 each: for e1, two rollouts and the shown answer');
    for (const region of groups[0]) assert.ok(region.startsWith('f(') && region.endsWith('\n'), `an insertion at the cursor: ${JSON.stringify(region)}`);
    assert.equal(groups[0][2], 'f(x)\n', 'the shown insertion is scored as the region it made');
    assert.equal(summary.groups[shownGroup].rewards[2], 1.5, 'its reward carries the outcome bonus');
    for (const region of groups[1]) assert.ok(region.startsWith('f(') && region.endsWith(')\n') && !region.includes('old'), `typed: ${JSON.stringify(region)}`);
    await engine.dispose();
  });
});

async function collect<T>(run: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of run) out.push(item);
  return out;
}
