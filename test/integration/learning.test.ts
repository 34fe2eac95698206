// Learning through the language server: a simulated user replays episodes over LSP, then
// Train Now runs GAPO in the training worker, the eval gate decides, adapter versions are
// kept and can be rolled back; a restarted server trains by itself once the user is idle.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LspSession, type SessionOptions } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import {
  CancelTrainingRequest,
  DashboardRequest,
  ExportRequest,
  ForgetRequest,
  LearnFromHistoryRequest,
  RollbackRequest,
  SetLearningRequest,
  StatsRequest,
  StatusRequest,
  TrainNowRequest,
} from '../../server/src/protocol';
import type { RunRecord } from '../../server/src/protocol';
import { makeModel, tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { readEpisodes } from '../../server/src/edits/episode';
import { judge } from '../../server/src/gapo/gate';

const fixtures = readEpisodes(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl'));

const training = { steps: 1, group: 4, promptsPerStep: 2, maxTokens: 12, minHeldOut: 2, maxHeldOut: 2, microBatch: 8, learningRate: 1e-3 };
const prompt = { contextLines: 2, historyDiffs: 1 };

/** The fixtures replayed twice over (as two copies of their files): eight episodes, each with its suggestion's fate. */
function replayFixtures(session: LspSession, work: string) {
  return replayEpisodes(session, [...fixtures, ...fixtures.map((e) => ({ ...e, path: `copy/${e.path}` }))], { noise: 0, seed: 1, typingChunk: 8, root: join(work, 'repo') });
}

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
    const stats = await replayFixtures(session, work);
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
    assert.equal(result.status, judge(result.live!, result.candidate!, 'v0').deploy ? 'deployed' : 'kept', 'the eval gate follows its rule on the typed held-out episodes');
    assert.equal(result.live!.episodes, 2);
    assert.equal(result.candidate!.savedPerEpisode.length, 2);
    assert.ok(result.live!.charsTotal > 0, 'the held-out episodes were typed');

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
    assert.equal(stats.liveAdapter, result.status === 'deployed' ? 1 : 0);
    const status = await session.request(StatusRequest);
    assert.equal(status.episodes.untrained, 0);
    // The status item follows from what the server pushes: a percentage while it trains, then the version.
    await session.until(() => session.statuses.at(-1)?.training.state === 'idle', 'a status after the run');
    const during = session.statuses.filter((s) => s.training.state === 'training');
    assert.ok(during.length > 0 && during.every((s) => s.training.percentage !== null && s.training.percentage >= 0 && s.training.percentage <= 100));
    assert.equal(session.statuses.at(-1)!.adapterVersion, stats.liveAdapter);
    assert.equal(session.statuses.at(-1)!.training.percentage, null);
  });

  it('gives the dashboard the run, its reward groups, the adapters and what was collected per file', async () => {
    const data = await session.request(DashboardRequest);
    assert.equal(data.runs[0].adapterVersion, 1);
    assert.deepEqual(data.steps.map((s) => s.runId), [data.runs[0].id]);
    assert.equal((data.steps[0].groups as unknown[]).length, 2);
    assert.deepEqual(data.adapters.map((a) => a.version), [0, 1]);
    const status = await session.request(StatusRequest);
    assert.equal(data.collected.reduce((n, f) => n + f.episodes, 0), status.episodes.total);
    assert.ok(data.collected.every((f) => f.path.startsWith(join(work, 'repo'))));
    assert.equal(data.acceptance.reduce((n, d) => n + d.shown, 0), status.suggestions.shown);
  });

  it('rolls back to any version, and refuses one that does not exist', async () => {
    assert.deepEqual(await session.request(RollbackRequest, { version: 1 }), { adapterVersion: 1 });
    assert.equal((await session.request(StatusRequest)).adapterVersion, 1);
    assert.deepEqual(await session.request(RollbackRequest, { version: 0 }), { adapterVersion: 0 });
    await assert.rejects(session.request(RollbackRequest, { version: 7 }), /no adapter version 7/);
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
  });

  it('cancels a running run on request: no new version, the live adapter stays', async () => {
    const started = session.progress.length;
    const running = session.request(TrainNowRequest);
    await session.until(() => session.progress.slice(started).some((p) => p.kind === 'begin'), 'the run to begin');
    assert.deepEqual(await session.request(CancelTrainingRequest), { cancelled: true });
    const result = await running;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.adapterVersion, null);
    const stats = await session.request(StatsRequest, undefined);
    assert.equal(stats.runs[0].status, 'cancelled');
    assert.deepEqual(stats.adapters.map((a) => a.version), [0, 1]);
    assert.equal(stats.liveAdapter, 0);
    assert.deepEqual(await session.request(CancelTrainingRequest), { cancelled: false }, 'nothing runs any more');
  });

  it("cancels a run from its progress notification's Cancel button", async () => {
    const started = session.progress.length;
    const running = session.request(TrainNowRequest);
    await session.until(() => session.progress.slice(started).some((p) => p.kind === 'begin'), 'the run to begin');
    const begin = session.progress.slice(started).find((p) => p.kind === 'begin')!;
    assert.equal(begin.cancellable, true, 'the editor shows a Cancel button');
    await session.connection.sendNotification('window/workDoneProgress/cancel', { token: session.progressTokens.at(-1) });
    assert.equal((await running).status, 'cancelled');
    assert.deepEqual((await session.request(StatsRequest, undefined)).adapters.map((a) => a.version), [0, 1]);
    // A run after a cancelled one trains as usual.
    const again = await session.request(TrainNowRequest);
    assert.ok(again.status === 'deployed' || again.status === 'kept', JSON.stringify(again));
    assert.equal(again.adapterVersion, 2);
    await session.request(RollbackRequest, { version: 0 });
  });

  it('collects and trains nothing while learning is paused, and goes on once resumed', async () => {
    const before = (await session.request(StatusRequest)).episodes.total;
    assert.deepEqual(await session.request(SetLearningRequest, { paused: true }), { learning: 'paused' });
    assert.equal((await session.request(StatusRequest)).learning, 'paused');
    await replayEpisodes(session, fixtures.map((e) => ({ ...e, path: `paused/${e.path}` })), { noise: 0, seed: 3, typingChunk: 8, root: join(work, 'repo') });
    await assert.rejects(session.request(TrainNowRequest), /learning is paused/);
    const data = await session.request(DashboardRequest);
    assert.equal(data.status.episodes.total, before);
    assert.ok(!data.collected.some((f) => f.path.includes('/paused/')), 'no edit, suggestion or episode of the paused files');
    await session.request(SetLearningRequest, { paused: false });
    await replayEpisodes(session, fixtures.slice(0, 1).map((e) => ({ ...e, path: `resumed/${e.path}` })), { noise: 0, seed: 3, typingChunk: 8, root: join(work, 'repo') });
    let after = before;
    for (let i = 0; i < 100 && after === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = (await session.request(StatusRequest)).episodes.total;
    }
    assert.ok(after > before, 'an episode after resuming');
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
    assert.equal(run.adapterVersion, 3);
  });

  it("learns from a repository's history: its commits' edits, never an excluded file's, secrets redacted", async () => {
    const repo = join(work, 'history');
    mkdirSync(repo, { recursive: true });
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { stdio: 'pipe' });
    git('init', '-q');
    const secret = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
    const write = (body: string) => {
      writeFileSync(join(repo, 'sum.js'), `const token = '${secret}';\n\nfunction sum(items) {\n  let total = 0;\n${body}  return total;\n}\n`);
      // A code file under secrets/ is excluded by default, as it would be when typed in.
      mkdirSync(join(repo, 'secrets'), { recursive: true });
      writeFileSync(join(repo, 'secrets', 'keys.js'), `export const keys = [${body.length}];\n`);
    };
    write('');
    git('add', '-A');
    git('commit', '-qm', 'first');
    write('  for (const item of items) total += item;\n');
    git('commit', '-qam', 'second');
    const before = (await session.request(StatusRequest)).episodes.total;
    const result = await session.request(LearnFromHistoryRequest, { folder: repo });
    assert.equal(result.commits, 2);
    assert.equal(result.episodes, 1, 'one hunk of sum.js; secrets/keys.js is excluded');
    const data = await session.request(DashboardRequest);
    assert.equal(data.status.episodes.total, before + 1);
    const file = data.collected.find((f) => f.path === join(repo, 'sum.js'));
    assert.equal(file?.episodes, 1);
    assert.ok(!data.collected.some((f) => f.path.includes('secrets')));
    const out = join(work, 'history.jsonl');
    await session.request(ExportRequest, { format: 'jsonl', out });
    const exported = readFileSync(out, 'utf8');
    assert.match(exported, /for \(const item of items\) total \+= item;/);
    assert.ok(!exported.includes(secret.slice(4, 16)), 'the token was redacted');
    await assert.rejects(session.request(LearnFromHistoryRequest, { folder: join(work, 'not-a-repo') }), /git .*failed/);
  });

  it('trains in the background on all of an imported history, not on the part imported when the user went idle', async () => {
    // A server that trains as soon as 3 new episodes exist and the user has been idle 200 ms:
    // without the hold, it starts while the commits are still being read.
    const historyData = join(work, 'import-data');
    const importing = await LspSession.start({ ...base, dataDir: historyData, initializationOptions: { training: { ...training, background: true, idleMs: 200, minNewEpisodes: 3 }, prompt, suggest: { maxTokens: 12 } } });
    try {
      await importing.waitForModel();
      const repo = join(work, 'long-history');
      mkdirSync(repo, { recursive: true });
      const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { stdio: 'pipe' });
      git('init', '-q');
      const lines: string[] = [];
      for (let commit = 0; commit < 40; commit++) {
        lines.push(`export const value${commit} = compute(${commit}, 'step ${commit}');`);
        writeFileSync(join(repo, `file${commit % 4}.js`), lines.filter((_, i) => i % 4 === commit % 4).join('\n\n') + '\n');
        git('add', '-A');
        git('commit', '-qm', `commit ${commit}`);
      }
      const result = await importing.request(LearnFromHistoryRequest, { folder: repo });
      assert.ok(result.episodes >= 30, `${result.episodes} episodes`);
      let runs: RunRecord[] = [];
      for (let i = 0; i < 600 && !runs.some((r) => r.status !== 'running'); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        runs = (await importing.request(StatsRequest, undefined)).runs;
      }
      const [first] = runs;
      assert.ok(first, 'a background run started after the import');
      assert.equal(first.trigger, 'background');
      assert.equal(first.trainEpisodes + first.heldOutEpisodes, result.episodes, 'the first run saw every imported episode');
    } finally {
      await importing.stop();
    }
  });

  it('serves the base model, with a warning, when the live adapter was deleted from disk', async () => {
    await session.request(RollbackRequest, { version: 3 });
    const dir = (await session.request(StatsRequest, undefined)).adapters[3].path!;
    await session.stop();
    rmSync(dir, { recursive: true });
    const log: string[] = [];
    session = await LspSession.start({ ...base, initializationOptions: { training: { ...training, background: false }, prompt, suggest: { maxTokens: 12 } }, log: (line) => log.push(line) });
    await session.waitForModel();
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
    assert.ok(log.some((line) => /adapter v3's files are missing .* serving the base model/.test(line)), log.join('\n'));
  });

  it('serves the base model when the user switches models, and refuses to make the other model\'s adapter live', async () => {
    await session.request(RollbackRequest, { version: 1 });
    await session.stop();
    const log: string[] = [];
    const other = makeModel('llama-gqa-untied');
    session = await LspSession.start({ ...base, modelDir: other, initializationOptions: { training: { ...training, background: false }, prompt, suggest: { maxTokens: 12 } }, log: (line) => log.push(line) });
    await session.waitForModel();
    assert.equal((await session.request(StatusRequest)).adapterVersion, 0);
    assert.ok(log.some((line) => /adapter v1 does not fit .* serving the base model/.test(line)), log.join('\n'));
    await assert.rejects(session.request(RollbackRequest, { version: 1 }), /adapter version 1 does not fit the model being served: it was trained on /);
  });
});

describe("a training run's time budget", () => {
  it('stops training once the budget is spent, and the gate judges the steps done (gapo.training.maxMinutes)', async () => {
    const work = tempDir('learning-budget');
    const session = await LspSession.start({
      cliPath,
      dataDir: join(work, 'data'),
      modelDir: makeModel('qwen2-tied-bias', {}, { max_position_embeddings: 1024 }),
      cacheDir: tempDir('learning-budget-cache'),
      // A budget spent before the first step ends: one step of three.
      initializationOptions: { training: { ...training, steps: 3, maxMinutes: 1e-6, background: false }, prompt, suggest: { maxTokens: 12 } },
      log: () => {},
    });
    try {
      await session.waitForModel();
      await replayFixtures(session, work);
      await session.until(() => session.episodes.length >= 8, 'eight episodes');
      const result = await session.request(TrainNowRequest);
      assert.ok(result.status === 'deployed' || result.status === 'kept', JSON.stringify(result));
      assert.ok(result.candidate!.episodes > 0, 'the gate typed the held-out episodes with the candidate');
      const stats = await session.request(StatsRequest, { runId: result.runId });
      assert.equal(stats.steps.length, 1, 'one step of three, then the budget was spent');
      assert.equal(stats.runs[0].options.maxMinutes, 1e-6, 'the run records its budget');
    } finally {
      await session.stop();
    }
  });
});

describe('learning on 8-bit weights', () => {
  it('trains and judges on the quantized weights it serves (QLoRA), without building the float32 cache', async () => {
    const work = tempDir('learning-q8');
    const cacheDir = tempDir('learning-q8-cache');
    const session = await LspSession.start({
      cliPath,
      dataDir: join(work, 'data'),
      modelDir: makeModel('qwen2-tied-bias', {}, { max_position_embeddings: 1024 }),
      cacheDir,
      initializationOptions: { dtype: 'q8', training: { ...training, background: false }, prompt, suggest: { maxTokens: 12 } },
    });
    try {
      await session.waitForModel();
      await replayFixtures(session, work);
      await session.until(() => session.episodes.length >= 8, 'eight episodes');
      const result = await session.request(TrainNowRequest);
      assert.equal(result.adapterVersion, 1, JSON.stringify(result));
      assert.ok(result.status === 'deployed' || result.status === 'kept');
      assert.ok(Number.isFinite(result.candidate!.charsSaved));
      // The trainer writes its graph beside the weights it reads: one cache, the 8-bit one.
      const caches = readdirSync(cacheDir);
      assert.deepEqual(caches.map((dir) => dir.endsWith('-q8')), [true], caches.join(', '));
      assert.ok(readdirSync(join(cacheDir, caches[0])).some((file) => file.startsWith('policy-')), 'the policy graph is beside the 8-bit weights');
    } finally {
      await session.stop();
    }
  });
});
