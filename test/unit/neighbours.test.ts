// Other files' snippets for prompts (capture/neighbours.ts): the chunks most like the lines at
// the cursor, from files other than the one being edited, from the most recently seen files.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NeighbourFiles, neighbourFilesFor } from '../../server/src/capture/neighbours';

const lines = (n: number, make: (i: number) => string) => Array.from({ length: n }, (_, i) => `${make(i)}\n`).join('');

describe('neighbouring files', () => {
  it("offers the chunk of another file that shares the most names with the cursor's lines, never the file's own", () => {
    const neighbours = new NeighbourFiles();
    neighbours.remember('/w/user.ts', () => `${lines(20, (i) => `const filler${i} = ${i};`)}export function createUser(name: string, email: string) {\n  return { name, email };\n}\n`);
    neighbours.remember('/w/other.ts', () => lines(10, (i) => `let unrelated${i} = ${i};`));
    neighbours.remember('/w/main.ts', () => 'createUser(name, email)\n');
    const [best, ...rest] = neighbours.snippets('/w/main.ts', 'const user = createUser(name, ', 2);
    assert.equal(best.path, '/w/user.ts');
    assert.match(best.text, /export function createUser\(name: string, email: string\)/);
    assert.ok(rest.every((s) => s.path !== '/w/main.ts'), 'not the file being edited');
    assert.deepEqual(neighbours.snippets('/w/main.ts', 'nothing shared here', 2).filter((s) => s.path === '/w/other.ts'), [], 'a chunk that shares no name is never offered');
    assert.deepEqual(neighbours.snippets('/w/main.ts', 'createUser', 0), []);
  });

  it('keeps only the most recently seen files, and forgets one on request', () => {
    const neighbours = new NeighbourFiles(2);
    for (const name of ['a', 'b', 'c']) neighbours.remember(`/w/${name}.ts`, () => `export const shared_${name} = sharedName;\n`);
    const paths = () => neighbours.snippets('/w/x.ts', 'sharedName', 5).map((s) => s.path).sort();
    assert.deepEqual(paths(), ['/w/b.ts', '/w/c.ts'], 'the least recently seen went');
    neighbours.remember('/w/b.ts', () => 'export const shared_b = sharedName;\n');
    neighbours.forget('/w/c.ts');
    assert.deepEqual(paths(), ['/w/b.ts']);
    neighbours.forget();
    assert.deepEqual(paths(), []);
  });

  it('keeps nothing, and reads no text, when prompts carry no snippets', () => {
    const off = neighbourFilesFor({ contextLines: 12, historyDiffs: 3, snippets: 0 });
    off.remember('/w/a.ts', () => assert.fail('the text was read though no snippet can use it'));
    assert.deepEqual(off.snippets('/w/x.ts', 'anything', 2), []);
    const on = neighbourFilesFor({ contextLines: 12, historyDiffs: 3, snippets: 2 });
    on.remember('/w/a.ts', () => 'export const anything = 1;\n');
    assert.equal(on.snippets('/w/x.ts', 'anything', 2).length, 1);
  });
});
