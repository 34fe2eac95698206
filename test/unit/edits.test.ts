// The domain vocabulary (server/src/edits/): reading episodes, the prompt format, and the
// text helpers every layer uses.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type Episode, EpisodeError, parseEpisode, readEpisodes } from '../../server/src/edits/episode';
import { CURSOR, defaultPromptLimits, editCompletion, editPrompt, extractRegion, REGION_END, REGION_START, trimContext } from '../../server/src/edits/prompt';
import { episodesFromChange, languageOf, unifiedDiff } from '../../server/src/capture/edit-episodes';
import { commonPrefixLength, commonSuffixLength, mapRange, seededRandom, shuffled, splitLines } from '../../server/src/edits/text';

const episode: Episode = {
  id: 'e1',
  language: 'typescript',
  path: 'src/a.ts',
  history: ['--- a/src/a.ts\n+++ b/src/a.ts\n@@ -1,1 +1,1 @@\n-x\n+y\n'],
  prefix: 'p1\np2\np3\n',
  region: 'let a = 1;\nlet b = 2;\n',
  suffix: 's1\ns2\ns3\n',
  cursor: 4,
  target: 'let a = 1;\nlet b = 3;\n',
};

describe('episodes', () => {
  it('parses a valid episode, defaulting the language, and names what is wrong otherwise', () => {
    const { language: _language, ...noLanguage } = episode;
    assert.equal(parseEpisode(noLanguage, 'x').language, 'plaintext');
    assert.deepEqual(parseEpisode(episode, 'x'), episode);
    assert.equal(parseEpisode({ ...episode, cursor: episode.region.length }, 'x').cursor, episode.region.length, 'the end of the region is a cursor');
    assert.equal(parseEpisode({ ...episode, cursor: 0 }, 'x').cursor, 0);
    const cases: [unknown, RegExp][] = [
      [null, /f\.jsonl:3: an episode must be a JSON object/],
      ['text', /must be a JSON object/],
      [{ ...episode, id: 7 }, /"id" must be a string/],
      [{ ...episode, target: undefined }, /"target" must be a string/],
      [{ ...episode, history: 'diff' }, /"history" must be an array of diffs/],
      [{ ...episode, history: [1] }, /"history" must be an array of diffs/],
      [{ ...episode, cursor: -1 }, /"cursor" must be an offset inside the region \(0\.\.22\)/],
      [{ ...episode, cursor: 23 }, /"cursor"/],
      [{ ...episode, cursor: 1.5 }, /"cursor"/],
    ];
    for (const [value, message] of cases) assert.throws(() => parseEpisode(value, 'f.jsonl:3'), (error: Error) => error instanceof EpisodeError && message.test(error.message));
  });

  it('reads JSONL, skipping blank lines, and names the file and line of a bad one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gapo-edits-'));
    const good = join(dir, 'good.jsonl');
    writeFileSync(good, `${JSON.stringify(episode)}\n\n  \n${JSON.stringify({ ...episode, id: 'e2' })}\n`);
    assert.deepEqual(readEpisodes(good).map((e) => e.id), ['e1', 'e2']);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify(episode)}\n{oops\n`);
    assert.throws(() => readEpisodes(bad), new RegExp(`${bad}:2: not valid JSON`));
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    assert.throws(() => readEpisodes(empty), /no episodes/);
    assert.throws(() => readEpisodes(join(dir, 'missing.jsonl')), /cannot read \(ENOENT\)/);
  });
});

describe('the prompt format', () => {
  it('lays out history, file, marked region with its cursor, and the instruction', () => {
    assert.equal(
      editPrompt(episode),
      `### Recent edits\n${episode.history[0]}\n### File: src/a.ts\np1\np2\np3\n${REGION_START}\nlet ${CURSOR}a = 1;\nlet b = 2;\n${REGION_END}\ns1\ns2\ns3\n\n### Rewritten editable region\n${REGION_START}\n`,
    );
    assert.ok(editPrompt({ ...episode, history: [] }).startsWith('### Recent edits\n(none)\n\n### File'));
    assert.equal(editPrompt({ ...episode, history: ['d1\n', 'd2\n'] }).split('\n### File')[0], '### Recent edits\nd1\n\nd2\n');
  });

  it('cuts context to the limits, keeping what is nearest the region', () => {
    const cut = trimContext({ ...episode, history: ['h1', 'h2', 'h3'] }, { contextLines: 2, historyDiffs: 2 });
    assert.deepEqual([cut.prefix, cut.suffix, cut.history], ['p2\np3\n', 's1\ns2\n', ['h2', 'h3']]);
    assert.deepEqual(trimContext(episode, { contextLines: 0, historyDiffs: 0 }).history, []);
    assert.equal(trimContext(episode, { contextLines: 0, historyDiffs: 0 }).prefix, '');
    assert.equal(trimContext(episode, { contextLines: 10, historyDiffs: 10 }).prefix, episode.prefix);
    assert.equal(trimContext({ ...episode, prefix: 'a\nb' }, { contextLines: 1, historyDiffs: 1 }).prefix, 'b', 'a last line without its newline counts');
  });

  it('ends an answer with the end marker, and cuts a model past it', () => {
    assert.equal(editCompletion(episode), `${episode.target}${REGION_END}`);
    assert.equal(extractRegion(`x = 1;\n${REGION_END}\nmore`), 'x = 1;\n');
    assert.equal(extractRegion('x = 1;\n'), 'x = 1;\n', 'no marker: all of it');
    assert.equal(extractRegion(REGION_END), '');
  });
});

describe('text helpers', () => {
  it('splits lines keeping their endings', () => {
    assert.deepEqual(splitLines('a\nb\n'), ['a\n', 'b\n']);
    assert.deepEqual(splitLines('a\n\nb'), ['a\n', '\n', 'b']);
    assert.deepEqual(splitLines(''), []);
    assert.equal(splitLines('x\r\ny\n').join(''), 'x\r\ny\n');
  });

  it('measures common prefixes and suffixes', () => {
    assert.equal(commonPrefixLength('abcd', 'abxd'), 2);
    assert.equal(commonPrefixLength('ab', 'abc'), 2);
    assert.equal(commonPrefixLength('', 'a'), 0);
    assert.equal(commonSuffixLength('xbcd', 'ybcd'), 3);
    assert.equal(commonSuffixLength('abc', 'abc'), 3);
    assert.equal(commonSuffixLength('abcd', 'xbcd', 2), 2, 'at most max');
    assert.equal(commonSuffixLength('a', 'b'), 0);
  });

  it('draws the same numbers from the same seed, in [0, 1), and shuffles a copy', () => {
    const a = seededRandom(5);
    const b = seededRandom(5);
    const draws = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(draws.slice(0, 5), Array.from({ length: 5 }, () => b()));
    assert.ok(draws.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(draws.slice(0, 5), Array.from({ length: 5 }, seededRandom(6)));
    const mean = draws.reduce((s, x) => s + x, 0) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
    const items = Array.from({ length: 20 }, (_, i) => i);
    const mixed = shuffled(items, seededRandom(1));
    assert.deepEqual([...mixed].sort((x, y) => x - y), items, 'a permutation');
    assert.notDeepEqual(mixed, items);
    assert.deepEqual(items, Array.from({ length: 20 }, (_, i) => i), 'the input is untouched');
    assert.deepEqual(mixed, shuffled(items, seededRandom(1)));
    const firsts = new Set(Array.from({ length: 200 }, (_, seed) => shuffled([0, 1, 2], seededRandom(seed))[0]));
    assert.equal(firsts.size, 3, 'every item can come first');
  });

  it('moves a range through changes before it, widens it for changes touching it', () => {
    const range = { start: 10, end: 20 };
    assert.equal(mapRange(range, 0, 2, 3), false);
    assert.deepEqual(range, { start: 13, end: 23 });
    assert.equal(mapRange(range, 13, 13, 2), true, 'inserted at its start: inside');
    assert.deepEqual(range, { start: 13, end: 25 });
    assert.equal(mapRange(range, 11, 13, -2), false, 'a replacement ending at its start is before it');
    assert.deepEqual(range, { start: 11, end: 23 });
    assert.equal(mapRange(range, 23, 23, 4), false, 'inserted at its end: the next line');
    assert.equal(mapRange(range, 30, 31, 1), false);
    assert.deepEqual(range, { start: 11, end: 23 });
    assert.equal(mapRange(range, 20, 26, -6), true, 'a deletion across its end');
    assert.deepEqual(range, { start: 11, end: 20 });
    const empty = { start: 5, end: 5 };
    assert.equal(mapRange(empty, 5, 5, 1), true, 'an empty range takes what is typed in it');
    assert.deepEqual(empty, { start: 5, end: 6 });
  });
});

describe('the wire format models are trained on', () => {
  it('keeps its markers and default limits', () => {
    assert.deepEqual([REGION_START, REGION_END, CURSOR], ['<|editable_region_start|>', '<|editable_region_end|>', '<|user_cursor_is_here|>']);
    // No other files' snippets: with the bundled model they saved fewer characters (models/default/README.md).
    assert.deepEqual(defaultPromptLimits, { contextLines: 12, historyDiffs: 3, snippets: 0 });
  });

  it('draws mulberry32\'s numbers, so seeded runs reproduce across versions', () => {
    const random = seededRandom(1);
    assert.equal(random(), 0.6270739405881613);
    assert.equal(random(), 0.002735721180215478);
    assert.equal(commonPrefixLength('abc', 'abc'), 3);
  });
});

describe('episodes from a change', () => {
  const lines = (n: number, tag = 'l') => Array.from({ length: n }, (_, i) => `${tag}${i}\n`).join('');

  it('writes one unified diff of every hunk, headers included', () => {
    const before = lines(20);
    const after = before.replace('l2\n', 'L2\n').replace('l15\n', 'L15\n');
    assert.equal(unifiedDiff('a.ts', before, after), '--- a/a.ts\n+++ b/a.ts\n@@ -3,1 +3,1 @@\n-l2\n+L2\n--- a/a.ts\n+++ b/a.ts\n@@ -16,1 +16,1 @@\n-l15\n+L15\n');
  });

  it('places a pure insertion and, after it, a pure deletion at the right lines', () => {
    const before = lines(30);
    const after = before.replace('l5\n', 'l5\nnew\n').replace('l20\n', '');
    const [insertion, deletion] = episodesFromChange(before, after, { path: 'a.ts', language: 'typescript', source: 't', history: [] });
    assert.deepEqual([insertion.region, insertion.target], ['l4\nl5\nl6\nl7\n', 'l4\nl5\nnew\nl6\nl7\n']);
    assert.ok(insertion.prefix.endsWith('l3\n') && insertion.suffix.startsWith('l8\n'), 'the excerpt meets the region at the hunk');
    // The deletion's region is read with the insertion applied: l20 is one line further down.
    assert.ok(deletion.region.includes('l20\n') && !deletion.target.includes('l20\n'));
    assert.ok(deletion.prefix.endsWith('l17\n'), JSON.stringify(deletion.prefix.slice(-12)));
    assert.ok(deletion.prefix.startsWith('l0\nl1\nl2\nl3\nl4\nl5\nnew\n'), 'earlier hunks are applied in the excerpt');
    assert.ok(deletion.suffix.startsWith('l23\n'), JSON.stringify(deletion.suffix.slice(0, 12)));
  });

  it('makes an episode of a new file and of a file emptied (jsdiff numbers an empty side from 0 or 1)', () => {
    const source = { path: 'a.ts', language: 'typescript', source: 't', history: [] };
    const [created] = episodesFromChange('', 'a\nb\n', source);
    assert.deepEqual([created.prefix, created.region, created.target, created.suffix], ['', '', 'a\nb\n', '']);
    const [emptied] = episodesFromChange('a\nb\n', '', source);
    assert.deepEqual([emptied.prefix, emptied.region, emptied.target, emptied.suffix], ['', 'a\nb\n', '', '']);
    const [tail] = episodesFromChange('a\nb\nc\nd\ne\nf\n', 'a\nb\nc\nd\ne\nf\ng\n', source);
    assert.deepEqual([tail.region, tail.target, tail.suffix], ['e\nf\n', 'e\nf\ng\n', '']);
  });

  it('mixes the salt into the ids: the same edit made twice is two episodes', () => {
    const source = { path: 'a.ts', language: 'typescript', source: 'lsp', history: [] };
    const id = (salt?: string) => episodesFromChange('a\n', 'b\n', { ...source, salt })[0].id;
    assert.notEqual(id('1'), id('2'));
    assert.equal(id('1'), id('1'));
    assert.notEqual(id(), id('1'));
    assert.match(id(), /^[0-9a-f]{16}$/);
  });

  it('names the language of a path as VS Code would', () => {
    const expected: Record<string, string> = {
      'a.ts': 'typescript', 'a.tsx': 'typescriptreact', 'a.mts': 'typescript', 'a.cts': 'typescript',
      'a.js': 'javascript', 'a.jsx': 'javascriptreact', 'a.mjs': 'javascript', 'a.cjs': 'javascript',
      'a.py': 'python', 'a.rs': 'rust', 'a.go': 'go', 'a.java': 'java', 'a.c': 'c', 'a.h': 'c', 'a.cc': 'cpp', 'a.cpp': 'cpp', 'a.hpp': 'cpp',
      'a.cs': 'csharp', 'a.rb': 'ruby', 'a.php': 'php', 'a.swift': 'swift', 'a.kt': 'kotlin', 'a.scala': 'scala', 'a.sh': 'shellscript',
      'a.json': 'json', 'a.md': 'markdown', 'a.yml': 'yaml', 'a.yaml': 'yaml', 'a.toml': 'toml', 'a.css': 'css', 'a.html': 'html', 'a.sql': 'sql',
      'src/x.y/A.TS': 'typescript', 'Makefile': 'plaintext', 'a.unknown': 'plaintext',
    };
    for (const [path, language] of Object.entries(expected)) assert.equal(languageOf(path), language, path);
  });
});

