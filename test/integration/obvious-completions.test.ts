// Obvious completions: what any programmer would type next (a constructor's next field, a
// sibling function's body, a name from the line above, a closing bracket, a loop's increment),
// asked of the bundled default model over LSP as an editor asks. A case is right when accepting
// the ghost text leaves the cursor's line exactly as the programmer would have finished it.
// The cases live in test/fixtures/obvious-completions.jsonl (TypeScript, JavaScript, Python).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LspSession } from '../../server/src/replay/lsp-session';
import { tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';

const CURSOR = '█';

interface Case {
  name: string;
  language: string;
  file: string;
  /** The document, with the cursor marked by █. */
  text: string;
  /** What the programmer types next, to the end of the line. */
  expected: string;
}

const cases: Case[] = readFileSync(join(repoRoot, 'test', 'fixtures', 'obvious-completions.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as Case);

/**
 * How many cases the bundled model gets right today (1 of 34: the loop's increment), which this
 * test keeps from falling. The aim is 80% (issue 28), far above this model; models/default/README.md
 * gives the figure with and without the copy cache.
 */
const MIN_RIGHT = 1;

describe('obvious completions from the bundled default model, over LSP', () => {
  const work = tempDir('obvious');
  let session: LspSession;

  before(async () => {
    session = await LspSession.start({ cliPath, dataDir: join(work, 'data'), cacheDir: join(work, 'cache'), initializationOptions: { capture: { settleMs: 60_000 }, training: { background: false } } });
    await session.waitForModel();
  });
  after(async () => {
    await session?.stop();
  });

  it(`gets at least ${MIN_RIGHT} of ${cases.length} cases right`, async () => {
    assert.ok(cases.length >= 30);
    let right = 0;
    const lines: string[] = [];
    for (const c of cases) {
      const offset = c.text.indexOf(CURSOR);
      const text = c.text.replace(CURSOR, '');
      const uri = pathToFileURL(join(work, 'src', c.file)).href;
      await session.open(uri, text, c.language);
      const [item] = await session.inlineCompletion(uri, offset);
      const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
      const lineIndex = text.slice(0, lineStart).split('\n').length - 1;
      const want = text.slice(lineStart, offset) + c.expected + text.slice(offset, text.indexOf('\n', offset));
      const got = item ? session.textAfter(uri, item).split('\n')[lineIndex] : null;
      const ok = got === want;
      if (ok) right++;
      lines.push(`${ok ? 'right' : 'wrong'}  ${c.name}: ${JSON.stringify(item?.insertText ?? null)} (wanted ${JSON.stringify(c.expected)})`);
      await session.close(uri);
    }
    const share = right / cases.length;
    console.log(`obvious completions: ${right} of ${cases.length} right (${(100 * share).toFixed(0)}%)\n${lines.join('\n')}`);
    assert.ok(right >= MIN_RIGHT, `${right} of ${cases.length} right:\n${lines.join('\n')}`);
  });
});
