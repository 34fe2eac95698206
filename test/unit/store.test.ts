import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DatabaseSync } from '@photostructure/sqlite';
import { parquetReadObjects } from 'hyparquet';
import { exportEpisodes, VERL_DATA_SOURCE } from '../../server/src/store/export';
import { migrations } from '../../server/src/store/migrations';
import { pragma, Store, StoreError, type StoredEpisode } from '../../server/src/store/store';
import { tempDir } from '../helpers/models';
import { editPrompt } from '../../server/src/edits/prompt';

function episode(id: string, time: number, path = '/w/a.ts'): StoredEpisode {
  return { id, time, uri: `file://${path}`, source: 'lsp', language: 'typescript', path, history: ['--- a\n+++ b\n'], prefix: 'p\n', region: 'let a = 1;\n', suffix: 's\n', cursor: 8, target: 'let a = 2;\n', suggestionId: null };
}

describe('store', () => {
  it('creates the schema at the latest version, in WAL mode with full sync', () => {
    const store = Store.open(join(tempDir('store'), 'sub', 'gapo.db'));
    assert.equal(store.schemaVersion, migrations.length);
    assert.equal(pragma(store.db, 'journal_mode'), 'wal');
    assert.equal(pragma(store.db, 'synchronous'), 2); // FULL
    assert.equal(store.liveAdapterVersion(), 0);
    store.close();
  });

  it('keeps episodes, suggestions and outcomes across reopening, oldest first', () => {
    const file = join(tempDir('store'), 'gapo.db');
    let store = Store.open(file);
    store.addEpisode(episode('b', 2000));
    store.addEpisode(episode('a', 1000));
    store.addSuggestion({ id: 's1', time: 1, uri: 'file:///w/a.ts', path: '/w/a.ts', rewritten: 'r', insertText: 'i', adapterVersion: 0, latencyMs: 5 });
    store.addEpisode({ ...episode('c', 3000), suggestionId: 's1' });
    store.addOutcome('s1', 'accepted', 10);
    store.addOutcome('s1', 'survival', 40, 30, 0.5);
    store.close();
    store = Store.open(file);
    assert.deepEqual(store.episodes().map((e) => e.id), ['a', 'b', 'c']);
    assert.deepEqual(store.episodes({ limit: 2 }).map((e) => e.id), ['b', 'c']);
    assert.deepEqual(store.episodes({ since: 1000 }).map((e) => e.id), ['b', 'c']);
    assert.deepEqual(store.episodes()[0].history, ['--- a\n+++ b\n']);
    assert.deepEqual(store.outcomes('s1'), [
      { kind: 'accepted', time: 10, afterS: null, share: null },
      { kind: 'survival', time: 40, afterS: 30, share: 0.5 },
    ]);
    assert.equal(store.episodes()[2].suggestionId, 's1');
    store.close();
  });

  it('answers what the dashboard and the status item show: acceptance, per day and recent, and what was collected per file', () => {
    const store = Store.open(':memory:');
    const day = Date.UTC(2026, 10, 27);
    const suggest = (id: string, time: number, path: string, ...outcomes: ['accepted' | 'typed_over' | 'ignored' | 'survival', number | null, number | null][]) => {
      store.addSuggestion({ id, time, uri: `file://${path}`, path, rewritten: 'r', insertText: 'i', adapterVersion: 0, latencyMs: 5 });
      for (const [kind, afterS, share] of outcomes) store.addOutcome(id, kind, time + 1, afterS, share);
    };
    assert.equal(store.recentAcceptance(50), null, 'no suggestion yet');
    // Survival is the share kept at the last check (after 300 s here, not after 30 s).
    suggest('a', day + 1, '/w/a.ts', ['accepted', null, null], ['survival', 300, 0.5], ['survival', 30, 1]);
    suggest('b', day + 2, '/w/a.ts', ['typed_over', null, null]);
    suggest('c', day + 86_400_000, '/w/b.ts', ['accepted', null, null]);
    suggest('d', day + 86_400_001, '/w/b.ts'); // still on screen: its fate is unknown
    suggest('e', day + 86_400_002, '/w/b.ts', ['ignored', null, null]);
    assert.deepEqual(store.recentAcceptance(50), { accepted: 2, of: 4 });
    assert.deepEqual(store.recentAcceptance(2), { accepted: 1, of: 2 }, 'only the latest ones');
    assert.deepEqual(store.acceptanceByDay(10), [
      { day: '2026-11-27', shown: 2, accepted: 1, typedOver: 1, ignored: 0, survival: 0.5 },
      { day: '2026-11-28', shown: 3, accepted: 1, typedOver: 0, ignored: 1, survival: null },
    ]);
    store.addEpisode(episode('x', day + 5, '/w/a.ts'));
    store.addEdit(day + 7, 'file:///w/c.ts', '/w/c.ts', '+x\n');
    assert.deepEqual(store.collectedFiles(), [
      { path: '/w/b.ts', episodes: 0, suggestions: 3, edits: 0, lastTime: day + 86_400_002 },
      { path: '/w/c.ts', episodes: 0, suggestions: 0, edits: 1, lastTime: day + 7 },
      { path: '/w/a.ts', episodes: 1, suggestions: 2, edits: 0, lastTime: day + 5 },
    ]);
  });

  it('stores one verdict per suggestion: an accept that comes after an ignored or typed-over verdict replaces it', () => {
    // VS Code asks for the next suggestion at the new cursor as it applies an accepted one, so
    // the server may judge it ignored a few milliseconds before the accept command arrives.
    const store = Store.open(':memory:');
    for (const [id, first] of [['s1', 'ignored'], ['s2', 'typed_over']] as const) {
      store.addSuggestion({ id, time: 1, uri: 'file:///w/a.ts', path: '/w/a.ts', rewritten: 'r', insertText: 'i', adapterVersion: 0, latencyMs: 5 });
      store.addOutcome(id, first, 10);
      store.addOutcome(id, 'accepted', 12);
      store.addOutcome(id, 'survival', 40, 30, 1);
      assert.deepEqual(store.outcomes(id).map((o) => o.kind), ['accepted', 'survival'], id);
    }
    // A verdict that stands stays: an ignored suggestion no accept followed.
    store.addSuggestion({ id: 's3', time: 1, uri: 'file:///w/a.ts', path: '/w/a.ts', rewritten: 'r', insertText: 'i', adapterVersion: 0, latencyMs: 5 });
    store.addOutcome('s3', 'ignored', 10);
    assert.deepEqual(store.outcomes('s3').map((o) => o.kind), ['ignored']);
    store.close();
  });

  it('keeps learning paused across reopening', () => {
    const file = join(tempDir('store'), 'gapo.db');
    let store = Store.open(file);
    assert.equal(store.learningPaused(), false);
    store.setLearningPaused(true);
    store.close();
    store = Store.open(file);
    assert.equal(store.learningPaused(), true);
    store.setLearningPaused(false);
    assert.equal(store.learningPaused(), false);
    store.close();
  });

  it('forgets one file or everything, and keeps adapters', () => {
    const store = Store.open(join(tempDir('store'), 'gapo.db'));
    store.addEpisode(episode('a', 1, '/w/a.ts'));
    store.addEpisode(episode('b', 2, '/w/b.ts'));
    store.addEdit(1, 'file:///w/a.ts', '/w/a.ts', 'diff');
    store.addAdapter({ version: 1, path: '/x', parent: 0, runId: null, eval: null });
    assert.deepEqual(store.forget('/w/a.ts'), { episodes: 1, suggestions: 0, edits: 1 });
    assert.deepEqual(store.episodes().map((e) => e.id), ['b']);
    assert.deepEqual(store.forget(), { episodes: 1, suggestions: 0, edits: 0 });
    assert.equal(store.counts().episodes, 0);
    assert.equal(store.adapters().length, 2);
    store.close();
  });

  it('refuses a database from a newer version and leaves it untouched', () => {
    const file = join(tempDir('store'), 'gapo.db');
    const db = new DatabaseSync(file);
    db.exec(`PRAGMA user_version = ${migrations.length + 1}`);
    db.exec('CREATE TABLE future (x)');
    db.close();
    const before = readFileSync(file);
    assert.throws(() => Store.open(file), (error: Error) => error instanceof StoreError && /newer GAPO Assistant/.test(error.message));
    assert.deepEqual(readFileSync(file), before);
  });

  it('moves a corrupt file aside, keeps it, and starts a new store', () => {
    const dir = tempDir('store');
    const file = join(dir, 'gapo.db');
    writeFileSync(file, 'this is not a database, but somebody cares about it'.repeat(100));
    const logs: string[] = [];
    const store = Store.open(file, (message) => logs.push(message));
    assert.equal(store.counts().episodes, 0);
    store.close();
    const aside = readdirSync(dir).filter((name) => name.startsWith('gapo.db.corrupt-'));
    assert.equal(aside.length, 1);
    assert.match(readFileSync(join(dir, aside[0]), 'utf8'), /somebody cares/);
    assert.match(logs[0], /corrupt.*moved to/);
  });

  it('moves aside a database whose pages were damaged', () => {
    const dir = tempDir('store');
    const file = join(dir, 'gapo.db');
    const store = Store.open(file);
    for (let i = 0; i < 200; i++) store.addEpisode(episode(`e${i}`, i));
    pragma(store.db, 'wal_checkpoint(TRUNCATE)');
    store.close();
    const bytes = readFileSync(file);
    bytes.fill(0x5a, 4096 + 100, 4096 * 3); // scribble over pages 2 and 3
    writeFileSync(file, bytes);
    const logs: string[] = [];
    Store.open(file, (message) => logs.push(message)).close();
    assert.equal(logs.length, 1, 'a damaged database is reported');
    assert.ok(readdirSync(dir).some((name) => name.startsWith('gapo.db.corrupt-')));
    assert.ok(existsSync(file));
  });
});

describe('export', () => {
  const episodes = [episode('a', 1), { ...episode('b', 2), source: 'git:ky@abc', target: 'let b = 3;\n' }];

  it('writes JSONL in the shared schema, field for field', () => {
    const out = join(tempDir('export'), 'episodes.jsonl');
    exportEpisodes(episodes, 'jsonl', out);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(Object.keys(lines[0]), ['id', 'source', 'date', 'language', 'path', 'history', 'prefix', 'region', 'suffix', 'cursor', 'target']);
    assert.equal(lines[1].target, 'let b = 3;\n');
    assert.equal(lines[1].source, 'git:ky@abc');
  });

  it("writes verl's RL dataset layout as Parquet that reads back", async () => {
    const out = join(tempDir('export'), 'train.parquet');
    exportEpisodes(episodes, 'verl', out);
    const bytes = readFileSync(out);
    const rows = (await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) })) as Record<string, any>[];
    assert.equal(rows.length, 2);
    assert.equal(rows[0].data_source, VERL_DATA_SOURCE);
    assert.deepEqual(rows[0].prompt, [{ role: 'user', content: editPrompt(episodes[0]) }]);
    assert.equal(rows[0].ability, 'code-edit');
    assert.deepEqual(rows[1].reward_model, { style: 'rule', ground_truth: 'let b = 3;\n' });
    assert.equal(rows[1].extra_info.id, 'b');
    assert.equal(Number(rows[1].extra_info.index), 1);
    assert.equal(rows[1].extra_info.source, 'git:ky@abc');
  });
});

describe('scrubbing fragments of secrets', () => {
  it('finds and rewrites rows with thousands of probes, in every text column', () => {
    const store = Store.open(':memory:');
    const secret = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
    store.addEdit(1, 'file:///w/a.ts', '/w/a.ts', `+const t = "${secret.slice(0, 20)}";\n`);
    store.addEpisode({ ...episode('s', 5), prefix: `x = "${secret.slice(0, 16)}"\n`, history: [`+${secret.slice(4, 24)}\n`] });
    const scrub = (text: string) => text.replace(/ghp_[a-z0-9]*|[a-z]{8,}[0-9]*/g, '[REDACTED]');
    const probes = [...Array.from({ length: 3000 }, (_, i) => `p${i}robe`), secret.slice(0, 8), secret.slice(4, 12)];
    assert.equal(store.scrub(scrub, probes), 2);
    assert.ok(!store.episodes()[0].prefix.includes('abcdefgh'));
    assert.ok(!store.episodes()[0].history[0].includes('abcdefgh'));
    assert.ok(!store.recentEdits('/w/a.ts', 5)[0].includes('abcdefgh'));
    store.close();
  });
});

