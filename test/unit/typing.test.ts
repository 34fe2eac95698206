// The typing user of `gapo replay --typing`: what it types next, where it asks, and what it
// counts as saved.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atWordBoundary, nextKeystroke, remainingWork } from '../../server/src/replay/typing';

describe('the simulated typing user', () => {
  it('counts the characters left to insert and to delete', () => {
    assert.deepEqual(remainingWork('const a = 1;', 'const ab = 12;'), { insert: 2, insertWhitespace: 0, delete: 0 });
    assert.deepEqual(remainingWork('var x = 1;', 'let x = 1;'), { insert: 3, insertWhitespace: 0, delete: 3 });
    assert.deepEqual(remainingWork('let x', 'const x'), { insert: 4, insertWhitespace: 0, delete: 2 }, 'a character diff keeps the shared t');
    assert.deepEqual(remainingWork('same', 'same'), { insert: 0, insertWhitespace: 0, delete: 0 });
    assert.deepEqual(remainingWork('a\n', 'a\n    b()\n'), { insert: 8, insertWhitespace: 5, delete: 0 }, 'indentation and newlines are counted apart');
  });

  it('deletes at once and types one character at a time, top to bottom', () => {
    assert.deepEqual(nextKeystroke('var x = 1;\nfoo', 'let x = 1;\nfoo()'), { kind: 'delete', start: 0, end: 3 });
    assert.deepEqual(nextKeystroke('x = 1;\nfoo', 'x = 1;\nfoo()'), { kind: 'type', at: 10, char: '(' });
    assert.equal(nextKeystroke('done', 'done'), null);
  });

  it('reaches the target by following its own keystrokes', () => {
    let text = 'function f(a) {\n  return a;\n}\n';
    const wanted = 'function g(a, b) {\n  const sum = a + b;\n  return sum;\n}\n';
    let steps = 0;
    for (let step = nextKeystroke(text, wanted); step; step = nextKeystroke(text, wanted), steps++) {
      text = step.kind === 'delete' ? text.slice(0, step.start) + text.slice(step.end) : text.slice(0, step.at) + step.char + text.slice(step.at);
      assert.ok(steps < 200);
    }
    assert.equal(text, wanted);
  });

  it('asks at word boundaries: the start of a run, or after a character outside a word', () => {
    const text = 'const value = ';
    assert.equal(atWordBoundary(text, text.length, false), true, 'after a space');
    assert.equal(atWordBoundary('const val', 9, false), false, 'mid-word');
    assert.equal(atWordBoundary('const val', 9, true), true, 'a new run');
    assert.equal(atWordBoundary('foo(', 4, false), true, 'after punctuation');
    assert.equal(atWordBoundary('x', 0, false), true, 'the start of the file');
    assert.equal(atWordBoundary('$el', 3, false), false, '$ is part of a JavaScript name');
  });
});
