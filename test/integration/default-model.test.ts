// The bundled default model (models/default): shipped in the standard layout within its size
// budget, the default of the CLI and the language server, and a model that suggests.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CURSOR, REGION_END, REGION_START } from '../../server/src/edits/prompt';
import { QWEN_FIM_TOKENS } from '../../server/src/edits/prompt-format';
import { readModelConfig } from '../../server/src/model/config';
import { isPermissive } from '../../server/src/model-recipe/corpus';
import { readSafetensorsHeader } from '../../server/src/model/safetensors';
import { TextTokenizer } from '../../server/src/model/tokenizer';
import { StatusRequest } from '../../server/src/protocol';
import { LspSession } from '../../server/src/replay/lsp-session';
import { replayTyping } from '../../server/src/replay/typing';
import { readEpisodes } from '../../server/src/edits/episode';
import { Engine } from '../../server/src/model/engine';
import { GATE_REQUESTS_PER_EPISODE, typeHeldOut } from '../../server/src/gapo/gate';
import { defaultPromptLimits } from '../../server/src/edits/prompt';
import { defaultCaptureOptions } from '../../server/src/capture/document-capture';
import { defaultSuggestOptions } from '../../server/src/lsp/options';
import { tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';

const modelDir = join(repoRoot, 'models', 'default');

// Obvious completions: what any programmer would type next (a constructor's next field, a
// sibling function's body, a name from the line above, a closing bracket, a loop's increment),
// asked of the bundled model over LSP as an editor asks. A case is right when accepting the
// ghost text leaves the cursor's line exactly as the programmer would have finished it. The
// cases are in test/fixtures/obvious-completions.jsonl, each with its cursor marked.
const CASE_CURSOR = '█';

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

describe('the bundled default model', () => {
  it('ships in the Hugging Face layout, in F16, within 32 MB, with its recipe and licences', () => {
    const config = readModelConfig(modelDir);
    const weights = readSafetensorsHeader(join(modelDir, 'model.safetensors'));
    assert.ok(weights.tensors.every((t) => t.dtype === 'F16'));
    assert.ok(statSync(join(modelDir, 'model.safetensors')).size < 32 * 1024 * 1024);
    const tokenizer = TextTokenizer.load(modelDir, config.eosTokenIds);
    assert.equal(tokenizer.vocabSize, config.vocabSize);
    for (const marker of [REGION_START, REGION_END, CURSOR]) assert.equal(tokenizer.encode(marker).length, 1, marker);
    // Tuned to insert at the cursor, suffix first: its config says so, and the FIM tokens are single ids.
    assert.equal(config.promptFormat, 'fim-spm');
    for (const token of [QWEN_FIM_TOKENS.prefix, QWEN_FIM_TOKENS.suffix, QWEN_FIM_TOKENS.fileSeparator!]) assert.equal(tokenizer.encode(token).length, 1, token);
    const readme = readFileSync(join(modelDir, 'README.md'), 'utf8');
    assert.match(readme, /scripts\/make-default-model\.sh/);
    const sources = readFileSync(join(modelDir, 'corpus-sources.tsv'), 'utf8').trim().split('\n').slice(1);
    assert.ok(sources.length > 50);
    for (const line of sources) assert.ok(isPermissive(line.split('\t')[1]), line);
  });

  it('is described with its parameter count as the engine counts it (the picker, the walkthrough, the READMEs)', () => {
    const weights = readSafetensorsHeader(join(modelDir, 'model.safetensors'));
    const count = `${(weights.tensors.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0) / 1e6).toFixed(1)}M`;
    for (const file of ['src/extension.ts', 'media/walkthrough/model.md', 'docs/extension-readme.md', 'models/default/README.md', 'README.md']) {
      const said = [...readFileSync(join(repoRoot, file), 'utf8').matchAll(/(\d+\.\d)M[- ]param/g)].map((m) => `${m[1]}M`);
      assert.ok(said.length > 0 && said.every((c) => c === count), `${file} says ${said.join(', ')}; the model has ${count}`);
    }
  });

  it('is what the CLI uses without --model', () => {
    const result = spawnSync(process.execPath, [cliPath, 'eval', '--episodes', join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'), '--limit', '3', '--json', '--cache', tempDir('default-cache')], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /models\/default/);
    assert.equal(JSON.parse(result.stdout).n, 3);
  });

  it('serves the adapter named in adapterDir instead of the store\'s live one', async () => {
    const missing = join(tempDir('default-adapter'), 'no-such-adapter');
    const session = await LspSession.start({ cliPath, dataDir: join(tempDir('default-adapter-data'), 'data'), cacheDir: tempDir('default-adapter-cache'), initializationOptions: { adapterDir: missing, training: { background: false } } });
    try {
      await assert.rejects(session.waitForModel(), new RegExp(`could not load the model: .*${missing}`));
    } finally {
      await session.stop();
    }
  });

  it('is judged by the eval gate as the server serves it: typing in the training thread saves what typing over LSP saves', async () => {
    // Eight episodes in three files: a later one opens a file whose edits an earlier one made.
    const episodes = readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl')).slice(4, 12);
    const root = tempDir('gate-typing');
    const cacheDir = tempDir('gate-typing-cache');
    const session = await LspSession.start({ cliPath, dataDir: join(tempDir('gate-typing-data'), 'data'), cacheDir, initializationOptions: { training: { background: false } } });
    let overLsp;
    try {
      await session.waitForModel();
      overLsp = await replayTyping(session, episodes, { root, maxRequestsPerEpisode: GATE_REQUESTS_PER_EPISODE });
    } finally {
      await session.stop();
    }
    const engine = await Engine.load({ modelDir, cacheDir });
    try {
      const serving = { minProbability: defaultSuggestOptions.minProbability, dtype: 'f32' as const, maxTokens: defaultSuggestOptions.maxTokens, regionLines: defaultCaptureOptions.regionLines };
      const typed = await typeHeldOut(engine, episodes.map((e) => ({ ...e, path: join(root, e.path) })), serving, defaultPromptLimits, () => {});
      assert.ok(overLsp.shown > 0 && overLsp.accepted > 0, `the model shows and the user accepts something (${JSON.stringify(overLsp)})`);
      assert.deepEqual(typed, { episodes: 8, charsTotal: overLsp.charsTotal, charsSaved: overLsp.charsSaved, shown: overLsp.shown, accepted: overLsp.accepted, savedPerEpisode: overLsp.savedPerEpisode });
    } finally {
      await engine.dispose();
    }
  });

  describe('served with no model configured', () => {
    const work = tempDir('default-model');
    let session: LspSession;

    before(async () => {
      session = await LspSession.start({ cliPath, dataDir: join(work, 'data'), cacheDir: join(work, 'cache'), initializationOptions: { capture: { settleMs: 60_000 }, training: { background: false } } });
      await session.waitForModel();
    });

    after(async () => {
      await session?.stop();
    });

    it('loads the bundled model and answers suggestion requests with it', async () => {
      assert.equal((await session.request(StatusRequest)).model, modelDir);
      const uri = pathToFileURL(join(work, 'src', 'util.py')).href;
      const text = 'def is_string(value):\n    return isinstance(value, str)\n\n\ndef is_number(value):\n    return \n';
      await session.open(uri, text, 'python');
      let shown = 0;
      for (const offset of [text.length - 1, text.indexOf('(value):\n    return \n') + 1, 4]) {
        const items = await session.inlineCompletion(uri, offset);
        shown += items.length;
        // What is shown applies to the document as it stands.
        for (const item of items) assert.ok(session.textAfter(uri, item) !== text);
      }
      assert.equal((await session.request(StatusRequest)).suggestions.shown, shown, 'every item shown was recorded');
    });

    it('completes the obvious as ghost text, without repeating what follows the cursor', async () => {
      const uri = pathToFileURL(join(work, 'src', 'loop.js')).href;
      const before = 'function total(items) {\n  let sum = 0;\n  for (let i = 0; i < items.length; i';
      await session.open(uri, `${before}) {\n    sum += items[i];\n  }\n  return sum;\n}\n`, 'javascript');
      const [item] = await session.inlineCompletion(uri, before.length);
      assert.equal(item?.insertText, '++', 'the model writes "++) {" and the ") {" is there already');
      assert.deepEqual(item.range?.start, item.range?.end, 'an insertion at the cursor');
    });

    // Last: it shows suggestions of its own, which the counts above do not expect.
    it(`completes what any programmer would type next: at least ${MIN_RIGHT} of ${cases.length} obvious cases right`, async () => {
      assert.ok(cases.length >= 30);
      let right = 0;
      const lines: string[] = [];
      for (const c of cases) {
        const offset = c.text.indexOf(CASE_CURSOR);
        const text = c.text.replace(CASE_CURSOR, '');
        const uri = pathToFileURL(join(work, 'obvious', c.file)).href;
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
});
