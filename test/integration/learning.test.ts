// Learning through the language server: a simulated user replays episodes over LSP, then
// Train Now runs GAPO in the training worker, the eval gate decides, adapter versions are
// kept and can be rolled back; a restarted server trains by itself once the user is idle.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LspSession, type SessionOptions } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import { ExportRequest, ForgetRequest, RollbackRequest, StatsRequest, StatusRequest, TrainNowRequest } from '../../server/src/protocol';
import type { RunRecord } from '../../server/src/store/store';
import { makeModel, tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { readEpisodes } from '../../server/src/edits/episode';

const fixtures = readEpisodes(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl'));

const training = { steps: 1, group: 4, promptsPerStep: 2, maxTokens: 12, minHeldOut: 2, maxHeldOut: 2, microBatch: 8, learningRate: 1e-3 };
const prompt = { contextLines: 2, historyDiffs: 1 };

describe('learning through the language server', () => {
  const work = tempDir('learning');
  const dataDir = join(work, 'data');
  let base: SessionOptions;
  let session: LspSession;

  before(async () => {
    base = { cliPath, dataDir, modelDir: makeModel('qwen2-tied-bias', {}, { max_position_embeddings: 1024 }), cacheDir: tempDir('learning-cache') };
    session = await LspSession.start({ ...base, initializationOptions: { training: { ...training, background: false }, prompt, suggest: { maxTokens: 12 } } });
    await session.waitForModel();
  });

  after(async () => {
    await session?.stop();
  });

  it('refuses to train before there are enough episodes, with the reason', async () => {
    await assert.rejects(session.request(TrainNowRequest), /not enough episodes to train: 0 collected/);
  });

  it('captures every replayed episode over LSP', async () => {
    const stats = await replayEpisodes(session, [...fixtures, ...fixtures.map((e) => ({ ...e, path: `copy/${e.path}` }))], { noise: 0, seed: 1, typingChunk: 8, root: join(work, 'repo') });
    assert.equal(stats.episodes, 8);
    await session.until(() => session.episodes.length >= 8, 'eight episodes');
    const status = await session.request(StatusRequest);
    assert.ok(status.episodes.total >= 8);
    assert.equal(status.episodes.untrained, status.episodes.total);
  });

  it('trains on Train Now, records the run and every step, and keeps the adapter', async () => {
    const result = await session.request(TrainNowRequest);
    const kinds = session.progress.map((p) => p.kind);
    assert.equal(kinds[0], 'begin', 'training reports LSP work-done progress');
    assert.ok(kinds.includes('report'));
    assert.equal(kinds[kinds.length - 1], 'end');
    assert.ok(result.status === 'deployed' || result.status === 'kept', JSON.stringify(result));
    assert.equal(result.adapterVersion, 1);
    const gatePassed = result.candidate!.exact_match >= result.live!.exact_match && result.candidate!.edit_similarity >= result.live!.edit_similarity;
    assert.equal(result.status, gatePassed ? 'deployed' : 'kept', 'the eval gate compares exact match and edit similarity on held-out episodes');
    assert.equal(result.live!.n, 2);

    const stats = await session.request(StatsRequest, undefined);
    assert.equal(stats.runs[0].status, result.status);
    assert.equal(stats.runs[0].trigger, 'manual');
    assert.equal(stats.steps.length, 1);
    const groups = stats.steps[0].groups as { rewards: number[]; mean: number; q: number; interval: [number, number] }[];
    assert.equal(groups.length, 2);
    for (const group of groups) {
      assert.equal(group.rewards.length, 4);
      assert.ok(group.interval[0] <= group.q && group.q <= group.interval[1], 'Q lies inside the interval');
    }
    assert.deepEqual(stats.adapters.map((a) => a.version), [0, 1]);
    const adapterDir = stats.adapters[1].path!;
    assert.ok(existsSync(join(adapterDir, 'adapter_model.safetensors')));
    assert.equal(JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')).peft_type, 'LORA');
    assert.equal(stats.liveAdapter, gatePassed ? 1 : 0);
    const status = await session.request(StatusRequest);
    assert.equal(status.episodes.untrained, 0);
  });

  it('rolls back to any version, and refuses one that does not exist', async () => {
    assert.deepEqual(await session.request(RollbackRequest, { version: 1 }), { adapterVersion: 1 });
    assert.equal((await session.request(StatusRequest)).adapterVersion, 1);
    assert.deepEqual(await session.request(RollbackRequest, { version: 0 }), { adapterVersion: 0 });
    await assert.rejects(session.request(RollbackRequest, { version: 7 }), /no adapter version 7/);
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
  });

  it('exports what it collected, and forgets a file or everything on request', async () => {
    const out = join(work, 'export.jsonl');
    const exported = await session.request(ExportRequest, { format: 'jsonl', out });
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, exported.episodes);
    const path = join(work, 'repo', fixtures[0].path);
    const forgotten = await session.request(ForgetRequest, { path });
    assert.ok(forgotten.episodes >= 1);
    const after = await session.request(ExportRequest, { format: 'jsonl', out });
    assert.equal(after.episodes, exported.episodes - forgotten.episodes);
    assert.ok(!readFileSync(out, 'utf8').includes(`"path":"${path}"`));
  });

  it('after a restart, keeps its versions and trains in the background once the user is idle', async () => {
    await session.stop();
    session = await LspSession.start({ ...base, initializationOptions: { training: { ...training, background: true, idleMs: 300, minNewEpisodes: 4 }, prompt, suggest: { maxTokens: 12 } } });
    await session.waitForModel();
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
    await replayEpisodes(session, fixtures.map((e) => ({ ...e, path: `again/${e.path}` })), { noise: 0, seed: 2, typingChunk: 8, root: join(work, 'repo') });
    let runs: RunRecord[] = [];
    for (let i = 0; i < 600 && !runs.some((r) => r.trigger === 'background' && r.status !== 'running'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      runs = (await session.request(StatsRequest, undefined)).runs;
    }
    const run = runs.find((r) => r.trigger === 'background');
    assert.ok(run, 'a background run started');
    assert.ok(run.status === 'deployed' || run.status === 'kept', run.status);
    assert.equal(run.adapterVersion, 2);
  });

  it('serves the base model, with a warning, when the live adapter was deleted from disk', async () => {
    await session.request(RollbackRequest, { version: 2 });
    const dir = (await session.request(StatsRequest, undefined)).adapters[2].path!;
    await session.stop();
    rmSync(dir, { recursive: true });
    const log: string[] = [];
    session = await LspSession.start({ ...base, initializationOptions: { training: { ...training, background: false }, prompt, suggest: { maxTokens: 12 } }, log: (line) => log.push(line) });
    await session.waitForModel();
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
    assert.ok(log.some((line) => /adapter v2's files are missing .* serving the base model/.test(line)), log.join('\n'));
  });
});
