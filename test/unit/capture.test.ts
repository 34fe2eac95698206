import { editFormat, fimFormat, QWEN_FIM_TOKENS } from '../../server/src/edits/prompt-format';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CaptureSink, defaultCaptureOptions, DocumentCapture, isTypingAlong } from '../../server/src/capture/document-capture';
import { survivingShare } from '../../server/src/capture/survival';
import { mapRange } from '../../server/src/edits/text';
import { episodesFromChange, unifiedDiff } from '../../server/src/capture/edit-episodes';
import { editItem, suggestionFor } from '../../server/src/suggest/edit-item';
import { repoRoot } from '../helpers/paths';
import { join } from 'node:path';
import { readEpisodes } from '../../server/src/edits/episode';

// A fixed seed: a property test that finds a failure finds it on every run.
fc.configureGlobal({ seed: 20261128 });

function recordingSink() {
  const edits: string[] = [];
  const episodes: { region: string; target: string; suggestionId: string | null; history: string[] }[] = [];
  const outcomes: { id: string; kind: string; share?: number }[] = [];
  const secrets: string[] = [];
  const sink: CaptureSink = {
    edit: (_c, diff) => edits.push(diff),
    episode: (_c, e, suggestionId) => episodes.push({ region: e.region, target: e.target, suggestionId, history: e.history }),
    outcome: (id, kind, _afterS, share) => outcomes.push({ id, kind, share }),
    secrets: (found) => secrets.push(...found),
  };
  return { sink, edits, episodes, outcomes, secrets };
}

const options = { ...defaultCaptureOptions, settleMs: 60_000 };

function insert(capture: DocumentCapture, offset: number, text: string, now: number): void {
  const position = capture.positionAt(offset);
  capture.applyChanges([{ range: { start: position, end: position }, text }], capture.version + 1, now);
}

describe('edit episodes from a change', () => {
  it('reproduces the shared dataset: one episode per hunk, earlier hunks applied and in the history', () => {
    const before = Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join('');
    const after = before.replace('line 3\n', 'line three\n').replace('line 20\n', 'line twenty\nextra\n');
    const episodes = episodesFromChange(before, after, { path: 'a.ts', language: 'typescript', source: 'test', history: [] });
    assert.equal(episodes.length, 2);
    const [first, second] = episodes;
    assert.equal(first.region, 'line 1\nline 2\nline 3\nline 4\nline 5\n');
    assert.equal(first.target, 'line 1\nline 2\nline three\nline 4\nline 5\n');
    assert.equal(first.cursor, 'line 1\nline 2\n'.length, 'the start of the first changed line, as in the dataset');
    assert.equal(first.prefix, 'line 0\n');
    assert.deepEqual(first.history, []);
    assert.ok(second.prefix.includes('line three\n'), 'the earlier hunk is applied');
    assert.equal(second.history.length, 1);
    assert.match(second.history[0], /^--- a\/a.ts\n\+\+\+ b\/a.ts\n@@ -2,5 \+2,5 @@\n/);
    assert.equal(second.target, 'line 18\nline 19\nline twenty\nextra\nline 21\nline 22\n');
  });

  it('rebuilds the target file from any change, hunk by hunk', () => {
    // Files shorter than the 40-line excerpt: each episode shows the whole file as it stood.
    const line = fc.constantFrom('a\n', 'b\n', 'c\n', 'x\n', 'd');
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.array(line, { maxLength: 30 }), (x, y) => {
        const before = x.join('');
        const after = y.join('');
        const episodes = episodesFromChange(before, after, { path: 'f', language: 'plaintext', source: 't', history: [] });
        if (before === after) return episodes.length === 0;
        let current = before;
        for (const e of episodes) {
          assert.equal(e.prefix + e.region + e.suffix, current, 'each hunk is shown with the earlier ones applied');
          assert.notEqual(e.region, e.target);
          assert.ok(e.cursor <= e.region.length);
          current = e.prefix + e.target + e.suffix;
        }
        assert.equal(current, after, 'the last hunk applied gives the file after the change');
        return true;
      }),
    );
  });

  it('places the cursor as the shared dataset does', () => {
    const all = readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'));
    // Each single-hunk view of the dataset (excerpt before, excerpt after) gives back its episode.
    for (const e of all.slice(0, 50)) {
      const [made] = episodesFromChange(e.prefix + e.region + e.suffix, e.prefix + e.target + e.suffix, { path: e.path, language: e.language, source: 'x', history: [] });
      if (e.region.split('\n').length < 5) continue; // regions cut by the file's start or end
      assert.equal(made.cursor, e.cursor, e.id);
      assert.ok(e.region.includes(made.region.slice(made.cursor)) || made.region.includes(e.region), e.id);
    }
  });
});

describe('document capture', () => {
  it('merges edits within a second into one history entry and keeps the last 16', () => {
    const { sink, edits } = recordingSink();
    const capture = new DocumentCapture('file:///a.ts', '/a.ts', 'typescript', 'x\n', 1, options, sink, null);
    insert(capture, 0, 'a', 0);
    insert(capture, 1, 'b', 500);
    insert(capture, 2, 'c', 2000);
    assert.equal(edits.length, 1, 'a pause of more than a second closes an edit');
    assert.match(edits[0], /\+abx/);
    for (let i = 0; i < 20; i++) insert(capture, 0, 'z', 4000 + i * 2000);
    capture.settle();
    assert.equal(capture.recentHistory(100).length, 16);
    capture.dispose();
  });

  it('turns a settled burst into an episode whose history holds only earlier edits', () => {
    const { sink, episodes } = recordingSink();
    const text = Array.from({ length: 10 }, (_, i) => `const v${i} = ${i};\n`).join('');
    const capture = new DocumentCapture('file:///a.ts', '/a.ts', 'typescript', text, 1, options, sink, null, ['--- earlier\n']);
    insert(capture, text.indexOf('5;'), '4', 0);
    capture.settle();
    assert.equal(episodes.length, 1);
    assert.equal(episodes[0].target.includes('const v5 = 45;'), true);
    assert.equal(episodes[0].region.includes('const v5 = 5;'), true);
    assert.deepEqual(episodes[0].history, ['--- earlier\n']);
    capture.dispose();
  });

  it('settles edits when a request comes from far away', () => {
    const { sink, episodes } = recordingSink();
    const text = Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join('');
    const capture = new DocumentCapture('file:///a.ts', '/a.ts', 'typescript', text, 1, options, sink, null);
    insert(capture, 0, 'x', 0);
    capture.cursorAt(2, 0);
    assert.equal(episodes.length, 0);
    capture.cursorAt(40, 0);
    assert.equal(episodes.length, 1);
    capture.dispose();
  });

  it('judges suggestions: typing along keeps one, other text types it over, edits elsewhere ignore it', () => {
    const { sink, outcomes, episodes } = recordingSink();
    const text = 'a\nb\nreturn \nc\nd\ne\nf\ng\nh\n';
    const capture = new DocumentCapture('file:///a.ts', '/a.ts', 'typescript', text, 1, options, sink, null);
    const cursor = text.indexOf('return ') + 7;
    const show = (id: string) => {
      const context = capture.contextAt(2, 7);
      const rewritten = context.region.replace('return ', 'return x + y;');
      capture.track(id, context, rewritten, editItem(context.region, rewritten, context.regionStart, context.cursor)!);
    };
    show('s1');
    insert(capture, cursor, 'x ', 0);
    assert.deepEqual(outcomes, []);
    insert(capture, cursor + 2, '-', 0);
    assert.deepEqual(outcomes, [{ id: 's1', kind: 'typed_over', share: undefined }]);
    show('s2');
    insert(capture, text.length + 3, 'far away\n', 0);
    assert.deepEqual(outcomes[1], { id: 's2', kind: 'ignored', share: undefined });
    capture.settle();
    assert.deepEqual(episodes.filter((e) => e.suggestionId).map((e) => e.suggestionId), ['s1', 's2']);
    capture.dispose();
  });
});

describe('a suggestion beside IntelliSense', () => {
  const text = 'a\nb\n  for (let i = 0; i < n; i) {\nc\nd\n';
  const cursor = text.indexOf('; i)') + 3;
  function shown() {
    const { sink, outcomes } = recordingSink();
    const capture = new DocumentCapture('file:///a.ts', '/a.ts', 'typescript', text, 1, options, sink, null);
    const position = capture.positionAt(cursor);
    const context = capture.contextAt(position.line, position.character);
    const rewritten = context.region.replace('; i)', '; i++)');
    capture.track('s', context, rewritten, editItem(context.region, rewritten, context.regionStart, context.cursor)!);
    return { capture, outcomes };
  }

  it("stays pending through a change that leaves the text as it was (IntelliSense's Tab replacing the typed word with itself)", () => {
    const { capture, outcomes } = shown();
    const before = capture.contentVersion;
    capture.applyChanges([{ range: { start: capture.positionAt(cursor - 1), end: capture.positionAt(cursor) }, text: 'i' }], 2, 0);
    assert.equal(capture.contentVersion, before, 'the server answers a request here with the same suggestion');
    assert.equal(capture.version, 2);
    assert.equal(capture.isPending('s'), true);
    insert(capture, cursor, '+', 0);
    assert.equal(capture.contentVersion, before + 1);
    assert.deepEqual(outcomes, []);
    capture.dispose();
  });

});

describe('tracked ranges and survival', () => {
  it('move with edits before them, widen with edits inside, ignore edits after', () => {
    const range = { start: 10, end: 20 };
    assert.equal(mapRange(range, 0, 2, 3), false);
    assert.deepEqual(range, { start: 13, end: 23 });
    assert.equal(mapRange(range, 15, 16, 4), true);
    assert.deepEqual(range, { start: 13, end: 27 });
    assert.equal(mapRange(range, 30, 30, 5), false);
    assert.deepEqual(range, { start: 13, end: 27 });
    assert.equal(mapRange(range, 27, 27, 1), false, 'text inserted at the end belongs to the next line');
    assert.equal(mapRange(range, 13, 13, 2), true, 'text inserted at the start is inside');
  });

  it('recognise typing along with a suggested insertion', () => {
    assert.equal(isTypingAlong('f(\n', 'f(a, b)\n', 'f(a,\n'), true);
    assert.equal(isTypingAlong('f(\n', 'f(a, b)\n', 'f(x\n'), false);
    assert.equal(isTypingAlong('f(\n', 'f(a, b)\n', 'f(a, b)\n'), false);
  });

  it('measure the share of accepted characters still present', () => {
    assert.equal(survivingShare('abcdef', 'abcdef'), 1);
    assert.equal(survivingShare('abcdef', 'abc'), 0.5);
    assert.equal(survivingShare('abcdef', 'xyz'), 0);
    assert.equal(survivingShare('abcdef', 'ab--cdef'), 1);
  });
});

describe('edit items', () => {
  it('make an insertion at the cursor ghost text', () => {
    assert.deepEqual(editItem('a\nreturn \nb\n', 'a\nreturn x;\nb\n', 100, 9), { kind: 'insert', start: 109, end: 109, insertText: 'x;' });
  });

  it('make any other change a whole-line replacement', () => {
    assert.deepEqual(editItem('a\nlet x = 1;\nb\n', 'a\nconst x = 1;\nb\n', 0, 0), { kind: 'replace', start: 2, end: 12, insertText: 'const x = 1;' });
  });

  it('show nothing unless the model closed the region with its end marker', () => {
    const context = { prefix: '', region: 'a\nreturn \nb\n', suffix: '', regionStart: 0, cursor: 9, prefixFromTop: true };
    assert.equal(suggestionFor(context, { text: 'a\nreturn x;\n', finishReason: 'length' }, editFormat), null, 'cut off: would delete "b"');
    assert.equal(suggestionFor(context, { text: 'a\nreturn x;\n', finishReason: 'eos' }, editFormat), null, 'ended without the marker');
    assert.equal(suggestionFor(context, { text: 'a\nreturn x;\n', finishReason: 'unsure' }, editFormat), null, 'stopped by the confidence gate');
    assert.equal(suggestionFor(context, { text: 'a\nreturn \nb\n', finishReason: 'stop' }, editFormat), null, 'unchanged: the policy stays quiet');
    assert.deepEqual(suggestionFor(context, { text: 'a\nreturn x;\nb\n', finishReason: 'stop' }, editFormat)?.item.insertText, 'x;');
  });

  it('show a fill-in-the-middle answer as ghost text at the cursor, even when the gate or the limit cut it', () => {
    const context = { prefix: '', region: 'a\nreturn \nb\n', suffix: '', regionStart: 100, cursor: 9, prefixFromTop: false };
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    for (const finishReason of ['eos', 'unsure', 'length'] as const) {
      assert.deepEqual(suggestionFor(context, { text: 'x;', finishReason }, fim), { item: { kind: 'insert', start: 109, end: 109, insertText: 'x;' }, rewritten: 'a\nreturn x;\nb\n' }, finishReason);
    }
    assert.equal(suggestionFor(context, { text: 'x;', finishReason: 'cancelled' }, fim), null, 'a cancelled request shows nothing');
    assert.equal(suggestionFor(context, { text: '', finishReason: 'eos' }, fim), null, 'an empty answer: nothing to show');
  });

  it('show nothing that cannot be right: white space alone, a bracket closed that is not open, the next line again', () => {
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    const show = (before: string, after: string, text: string) =>
      suggestionFor({ prefix: '', region: before + after, suffix: '', regionStart: 0, cursor: before.length, prefixFromTop: true }, { text, finishReason: 'eos' }, fim)?.item.insertText ?? null;
    // After Enter an editor has indented already: more white space alone is not a suggestion.
    assert.equal(show('function f() {\n  ', '\n}\n', '  \n  '), null);
    assert.equal(show('x = 1', '\n', '  '), null);
    // At the start of an empty line, where nothing indented it, the indentation is; so is a line
    // break with the next line's indentation after code (what Enter would do).
    assert.equal(show('if (ok) {', '\n}\n', '\n  '), '\n  ');
    assert.equal(show('function f() {\n', '\n}\n', '  '), '  ');
    // Closing what is open is right; closing what is not, or the wrong bracket, is not.
    assert.equal(show('call(a, b', '\n', ');'), ');');
    assert.equal(show('if (ok) {\n  run();\n', '\n', '}'), '}');
    assert.equal(show('const x = 1', '\n', ');'), null);
    assert.equal(show('f(items[0', '\n', '));'), null);
    // Brackets inside strings and comments do not count.
    assert.equal(show("log(')' + x", '\n', ');'), ');');
    assert.equal(show('f(a // )\n', '\n', ')'), ')');
    // The line that follows, written again.
    assert.equal(show('const a = 1;\n', '\nconst b = 2;\n', 'const b = 2;'), null);
    assert.equal(show('const a = 1;\nconst ', '\nconst b = 2;\n', 'b = 2;'), null);
    assert.equal(show('const a = 1;\n', '\nconst b = 2;\n', 'const c = 3;'), 'const c = 3;');
    // A line of brackets alone is often repeated on purpose (nested callbacks).
    assert.equal(show('    });\n  ', '\n  });\n', '});'), null, 'closes nothing open: still refused');
    assert.equal(show('a(() => {\n  b(() => {\n    c();\n  ', '\n});\n', '});'), '});');
    // A prompt's prefix is a window of lines: a closer whose opener lies above it may be right.
    const windowed = (before: string, text: string) =>
      suggestionFor({ prefix: before, region: '\n', suffix: '', regionStart: 5000 + before.length, cursor: 0, prefixFromTop: false }, { text, finishReason: 'eos' }, fim)?.item.insertText ?? null;
    assert.equal(windowed('    return total;\n', '}'), '}', 'the function opened more lines above than the prompt holds');
    assert.equal(windowed('  f(a,\n', '}'), null, 'the wrong bracket is wrong wherever the window starts');
  });

  it('make no item when the model leaves the region alone', () => {
    assert.equal(editItem('a\nb\n', 'a\nb\n', 0, 1), null);
  });

  it('rebuild the rewritten region when applied, for any rewrite', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), fc.nat(), (region, rewritten, c) => {
        const cursor = c % (region.length + 1);
        const item = editItem(region, rewritten, 0, cursor);
        if (!item) return region === rewritten;
        return region.slice(0, item.start) + item.insertText + region.slice(item.end) === rewritten;
      }),
    );
  });
});

describe('unified diffs', () => {
  it('makes unified diffs of edits', () => {
    assert.equal(unifiedDiff('a.ts', 'a\nb\n', 'a\nc\n'), '--- a/a.ts\n+++ b/a.ts\n@@ -2,1 +2,1 @@\n-b\n+c\n');
  });
});
