// Survival checks against a real store: each pending check is a row until it runs, spans move
// with the document, and a document that is not open is read from disk.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SurvivalChecks, survivingShare } from '../../server/src/capture/survival';
import { Store } from '../../server/src/store/store';

function setUp(openTexts: Map<string, string>) {
  const store = Store.open(':memory:');
  const recorded: [string, number, number][] = [];
  const checks = new SurvivalChecks(
    {
      addChecks: (c) => store.addSurvivalChecks(c),
      moveSpan: (id, span) => store.moveSurvivalSpan(id, span),
      record: (id, afterS, share) => {
        store.addOutcome(id, 'survival', 0, afterS, share);
        recorded.push([id, afterS, share]);
      },
      drop: (id, afterS) => store.dropSurvivalCheck(id, afterS),
    },
    (uri) => openTexts.get(uri) ?? null,
  );
  const suggestion = (id: string, uri: string) =>
    store.addSuggestion({ id, time: 0, uri, path: uri, rewritten: '', insertText: '', adapterVersion: 0, latencyMs: 1 });
  const until = async (n: number) => {
    while (recorded.length < n) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  return { store, checks, recorded, suggestion, until };
}

describe('survival checks', () => {
  it('keeps a row per pending check until it runs, and measures the span moved by later edits', async () => {
    const open = new Map([['file:///w/a.ts', 'let x = a + b;\n']]);
    const { store, checks, recorded, suggestion, until } = setUp(open);
    suggestion('s', 'file:///w/a.ts');
    checks.start('s', 'file:///w/a.ts', 'a + b', { start: 8, end: 13 }, [0.01, 60]);
    assert.deepEqual(store.pendingSurvivalChecks().map((c) => c.afterS), [0.01, 60]);
    // Three characters typed before it: the span moves, and the store hears of it on persist.
    open.set('file:///w/a.ts', 'let xyz = a + b;\n');
    checks.mapChange('file:///w/a.ts', 5, 5, 2);
    checks.persistSpans();
    await until(1);
    assert.deepEqual(recorded, [['s', 0.01, 1]]);
    assert.deepEqual(store.pendingSurvivalChecks().map((c) => [c.afterS, c.span]), [[60, { start: 10, end: 15 }]]);
    checks.forget();
    store.close();
  });

  it('reads a document that is not open from disk, counts a deleted file as nothing kept, and resumes from rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gapo-survival-'));
    writeFileSync(join(dir, 'kept.ts'), 'const total = add(1, 2);\n');
    const kept = pathToFileURL(join(dir, 'kept.ts')).href;
    const gone = pathToFileURL(join(dir, 'gone.ts')).href;
    const { store, checks, recorded, suggestion, until } = setUp(new Map());
    suggestion('kept', kept);
    suggestion('gone', gone);
    const now = Date.now();
    // As a restarted server finds them: one overdue, one due shortly.
    store.addSurvivalChecks([
      { suggestionId: 'kept', uri: kept, text: 'add(1, 2)', span: { start: 14, end: 23 }, afterS: 30, due: now - 1000 },
      { suggestionId: 'gone', uri: gone, text: 'St', span: { start: 0, end: 2 }, afterS: 30, due: now + 20 },
    ]);
    checks.resume(store.pendingSurvivalChecks());
    await until(2);
    assert.deepEqual(recorded, [['kept', 30, 1], ['gone', 30, 0]]);
    assert.equal(store.pendingSurvivalChecks().length, 0);
    assert.deepEqual(store.outcomes('kept').map((o) => o.share), [1]);
    store.close();
  });

  it('counts an empty accepted text as kept', () => {
    assert.equal(survivingShare('', 'anything'), 1);
    assert.equal(survivingShare('abcd', 'ab'), 0.5);
  });

  it('drops the outcome of a suggestion forgotten meanwhile', () => {
    const { store } = setUp(new Map());
    assert.equal(store.addOutcome('no-such-suggestion', 'survival', 0, 30, 1), false);
    store.close();
  });

  it('measures a closed document against its last text, and drops a check whose file cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gapo-survival-'));
    const closedUri = pathToFileURL(join(dir, 'closed.ts')).href; // never written to disk
    const folderUri = pathToFileURL(dir).href; // a folder: reading it fails, not with ENOENT
    const open = new Map([[closedUri, 'const a = keep();\n']]);
    const { store, checks, recorded, suggestion, until } = setUp(open);
    suggestion('closed', closedUri);
    suggestion('folder', folderUri);
    checks.start('closed', closedUri, 'keep()', { start: 10, end: 16 }, [0.02]);
    checks.closed(closedUri, 'const a = keep();\n');
    open.delete(closedUri);
    checks.start('folder', folderUri, 'x', { start: 0, end: 1 }, [0.01]);
    await until(1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(recorded, [['closed', 0.02, 1]], 'measured on the last text seen, not as a deleted file');
    assert.equal(store.pendingSurvivalChecks().length, 0, 'the unreadable one is dropped, not left pending');
    assert.deepEqual(store.outcomes('folder'), []);
    store.close();
  });

  it('forgets only the documents it is told to, and writes back spans of one document or all', async () => {
    const open = new Map([['file:///w/a.ts', 'aaaa'], ['file:///w/b.ts', 'bbbb']]);
    const { store, checks, recorded, suggestion, until } = setUp(open);
    suggestion('a', 'file:///w/a.ts');
    suggestion('b', 'file:///w/b.ts');
    checks.start('a', 'file:///w/a.ts', 'aa', { start: 2, end: 4 }, [0.03]);
    checks.start('b', 'file:///w/b.ts', 'bb', { start: 2, end: 4 }, [0.03, 60]);
    checks.mapChange('file:///w/a.ts', 0, 0, 1);
    checks.mapChange('file:///w/b.ts', 0, 0, 2);
    checks.persistSpans('file:///w/b.ts');
    const spans = () => Object.fromEntries(store.pendingSurvivalChecks().map((c) => [`${c.suggestionId}@${c.afterS}`, c.span.start]));
    assert.deepEqual(spans(), { 'a@0.03': 2, 'b@0.03': 4, 'b@60': 4 }, "only b's spans written");
    checks.forget((uri) => uri === 'file:///w/a.ts');
    await until(1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(recorded.map((r) => r[0]), ['b'], "a's checks stopped, b's ran");
    checks.dispose();
    assert.deepEqual(spans(), { 'a@0.03': 2, 'b@60': 4 }, 'dispose leaves the rows of checks not run for the next start');
    store.close();
  });
});
