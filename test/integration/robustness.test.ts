// What an editor can throw at the server: a SIGKILL in the middle of a replay, thousands of
// malformed and random messages, huge and binary documents, and no network at all.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { DatabaseSync } from '@photostructure/sqlite';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { LspSession } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import { ExportRequest, ForgetRequest, RollbackRequest, StatsRequest, StatusRequest, TrainNowRequest } from '../../server/src/protocol';
import { pragma, Store } from '../../server/src/store/store';
import { makeModel, tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { readEpisodes } from '../../server/src/edits/episode';

const episodes = readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'));
// `npm run test:stress` (which CI runs too) sets GAPO_STRESS: 100 kills and 10,000 messages
// instead of the 20 and 3,000 that keep `npm test` short.
const stress = Boolean(process.env.GAPO_STRESS);
const KILLS = stress ? 100 : 20;
const MESSAGES = stress ? 10_000 : 3000;

describe('a killed server', () => {
  it(`keeps every acknowledged episode and opens cleanly, killed at random moments (${KILLS} times)`, async (t) => {
    const dataDir = join(tempDir('kill'), 'data');
    const acknowledged = new Set<string>();
    let round = 0;
    for (; round < KILLS; round++) {
      const session = await LspSession.start({ cliPath, dataDir, modelDir: null });
      const replay = replayEpisodes(session, episodes.slice((round * 7) % 40), { noise: 0, seed: round, typingChunk: 3, root: join(dataDir, '..', 'repo', String(round)) }).catch(() => null);
      await new Promise((resolve) => setTimeout(resolve, 30 + ((round * 37) % 200)));
      // Acknowledged: the server said so after the commit, before the kill.
      for (const e of session.episodes) acknowledged.add(e.id);
      await session.kill('SIGKILL');
      await replay;
      const store = Store.open(join(dataDir, 'gapo.db'));
      try {
        assert.equal(pragma(store.db, 'integrity_check'), 'ok');
        const stored = new Set(store.episodes().map((e) => e.id));
        for (const id of acknowledged) assert.ok(stored.has(id), `episode ${id} was acknowledged before the kill of round ${round} but is gone`);
      } finally {
        store.close();
      }
    }
    t.diagnostic(`${round} kills, ${acknowledged.size} acknowledged episodes all kept`);
    assert.ok(acknowledged.size > 0, 'the replays got far enough to acknowledge episodes');
  });
});

describe('malformed input', () => {
  it('never kills the server: thousands of random and malformed messages', async () => {
    const dataDir = join(tempDir('fuzz'), 'data');
    const session = await LspSession.start({ cliPath, dataDir, modelDir: null });
    const uri = pathToFileURL(join(dataDir, '..', 'x.ts')).href;
    await session.open(uri, 'const a = 1;\n');
    const methods = [
      'textDocument/didOpen', 'textDocument/didChange', 'textDocument/didClose', 'textDocument/didSave', 'textDocument/inlineCompletion',
      'workspace/executeCommand', ...[StatusRequest, StatsRequest, RollbackRequest, ExportRequest, ForgetRequest, TrainNowRequest].map((r) => r.method), 'nonsense/method', '$/cancelRequest',
    ];
    const position = fc.record({ line: fc.oneof(fc.integer(), fc.constant(-1), fc.constant(1e9)), character: fc.oneof(fc.integer(), fc.string()) });
    const params = fc.oneof(
      fc.anything(),
      fc.record({ textDocument: fc.record({ uri: fc.oneof(fc.constant(uri), fc.string(), fc.constant('file:///nope.ts')), version: fc.anything(), text: fc.string(), languageId: fc.string() }, { requiredKeys: [] }), position }, { requiredKeys: [] }),
      fc.record({ textDocument: fc.record({ uri: fc.constant(uri), version: fc.integer() }), contentChanges: fc.array(fc.record({ range: fc.record({ start: position, end: position }), text: fc.string() }, { requiredKeys: [] }), { maxLength: 3 }) }),
      fc.record({ command: fc.oneof(fc.constant('gapo.suggestion.accepted'), fc.string()), arguments: fc.anything() }, { requiredKeys: [] }),
      fc.record({ version: fc.anything(), format: fc.string(), out: fc.constant(join(dataDir, 'no', 'such', 'dir', 'x')), path: fc.string() }, { requiredKeys: [] }),
    );
    const messages = fc.sample(fc.tuple(fc.constantFrom(...methods), params, fc.boolean()), { numRuns: MESSAGES, seed: 42 });
    const pending: Promise<unknown>[] = [];
    for (const [method, p, isRequest] of messages) {
      if (method === TrainNowRequest.method || method === ExportRequest.method) continue; // valid ones do real work; their errors are tested elsewhere
      if (isRequest) pending.push(session.connection.sendRequest(method, p).catch(() => null));
      else await session.connection.sendNotification(method, p).catch(() => null);
    }
    // Raw garbage on the wire: bodies that are not JSON, and JSON that is not JSON-RPC.
    for (const body of ['{not json', '[1,2,3]', '{"jsonrpc":"2.0","method":42}', `{"jsonrpc":"2.0","id":{},"method":"${StatusRequest.method}"}`, '"just a string"']) {
      session.process.stdin!.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
    await Promise.all(pending);
    const status = await session.request(StatusRequest);
    assert.equal(typeof status.episodes.total, 'number');
    assert.ok(session.alive, 'the server is still running');
    await session.stop();
  });

  it('skips huge and binary documents with a log line, and keeps serving', async () => {
    const dataDir = join(tempDir('huge'), 'data');
    const log: string[] = [];
    const session = await LspSession.start({ cliPath, dataDir, modelDir: null, log: (line) => log.push(line) });
    const huge = pathToFileURL(join(dataDir, '..', 'w', 'huge.js')).href;
    const binary = pathToFileURL(join(dataDir, '..', 'w', 'blob.ts')).href;
    const secret = pathToFileURL(join(dataDir, '..', 'w', '.env')).href;
    await session.open(huge, 'x'.repeat(5 * 1024 * 1024));
    await session.open(binary, 'PK\u0003\u0004\0\0\0binary');
    await session.open(secret, 'API_TOKEN=abc\n');
    await session.edit(huge, 0, 0, 'y');
    await session.edit(secret, 0, 0, 'X');
    await session.save(huge);
    await session.save(secret);
    const status = await session.request(StatusRequest);
    assert.equal(status.openDocuments, 0);
    assert.equal(status.episodes.total, 0);
    assert.ok(log.some((line) => /not capturing .*huge\.js: too large/.test(line)), log.join('\n'));
    assert.ok(log.some((line) => /not capturing .*blob\.ts: binary/.test(line)));
    assert.ok(log.some((line) => /not capturing .*\.env: excluded/.test(line)));
    assert.deepEqual(await session.inlineCompletion(huge, 0), []);
    await session.stop();
  });
});

describe('a database from a newer version', () => {
  it('fails initialize with a clear error and leaves the file untouched', async () => {
    const dataDir = join(tempDir('newer'), 'data');
    mkdirSync(dataDir, { recursive: true });
    const db = new DatabaseSync(join(dataDir, 'gapo.db'));
    db.exec('PRAGMA user_version = 999');
    db.close();
    const before = readFileSync(join(dataDir, 'gapo.db'));
    await assert.rejects(LspSession.start({ cliPath, dataDir, modelDir: null }), /cannot open its data: .*newer GAPO Assistant \(schema 999/);
    assert.deepEqual(readFileSync(join(dataDir, 'gapo.db')), before);
  });
});

describe('no network', () => {
  const unshare = spawnSync('unshare', ['-n', 'true']);
  it('replays, suggests and trains inside a network namespace with no interfaces up', { skip: unshare.status !== 0 ? `unshare -n is not permitted here: ${unshare.stderr}` : false }, () => {
    const work = tempDir('offline');
    const model = makeModel('qwen2-tied-bias', {}, { max_position_embeddings: 1024 });
    const result = spawnSync(
      'unshare',
      ['-n', process.execPath, cliPath, 'replay', '--episodes', join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'), '--limit', '8', '--model', model, '--data', join(work, 'data'), '--cache', join(work, 'cache'), '--train', '--steps', '1', '--group', '2', '--context-lines', '2', '--history-diffs', '0', '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.replay.episodes, 8);
    assert.ok(report.training.status === 'deployed' || report.training.status === 'kept', result.stderr);
  });
});
