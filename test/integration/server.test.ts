// The language server as an editor sees it: `gapo serve --stdio` in a child process, driven
// over real LSP with a small model taught to suggest one completion.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CancellationTokenSource, TextDocumentSaveReason, TextDocumentSyncKind } from 'vscode-languageserver-protocol';
import { LspSession } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import { replayTyping } from '../../server/src/replay/typing';
import { Store } from '../../server/src/store/store';
import { DashboardRequest, ExportRequest, ForgetRequest, ImportAdapterRequest, SetLearningRequest, StatsRequest, StatusRequest } from '../../server/src/protocol';
import { readModelConfig } from '../../server/src/model/config';
import { LoraAdapter } from '../../server/src/model/lora';
import { cliPath } from '../helpers/paths';
import { tempDir } from '../helpers/models';
import { makeTaughtModel } from '../helpers/taught-model';
import { editCompletion, editPrompt } from '../../server/src/edits/prompt';
import { fimFormat, QWEN_FIM_TOKENS } from '../../server/src/edits/prompt-format';

const MAX_TOKENS = 96;
const DOCUMENT = 'function add(a, b) {\n  return \n}\n';
const CURSOR = DOCUMENT.indexOf('return ') + 'return '.length;
const SUGGESTED_REGION = 'function add(a, b) {\n  return a + b;\n}\n';

/** The prompt the server builds for DOCUMENT at CURSOR, before any edit (no history). */
function promptFor(path: string): string {
  return editPrompt({ history: [], path, prefix: '', region: DOCUMENT, suffix: '', cursor: CURSOR });
}

describe('language server over stdio', () => {
  const work = tempDir('server');
  const acceptPath = join(work, 'accept.js');
  const typeOverPath = join(work, 'typeover.js');
  const cancelPath = join(work, 'cancel.js');
  const autosavePath = join(work, 'autosave.js');
  const latePath = join(work, 'late.js');
  const restartPath = join(work, 'restart.js');
  const forgetPath = join(work, 'forget.js');
  const pausedPath = join(work, 'paused.js');
  const replayPaths = [join(work, 'replay', 'kept.js'), join(work, 'replay', 'flipped.js'), join(work, 'typing', 'add.js')];
  const cacheDir = tempDir('server-cache');
  let session: LspSession;
  let modelDir: string;
  const log: string[] = [];

  before(async () => {
    modelDir = await makeTaughtModel(
      [acceptPath, typeOverPath, cancelPath, autosavePath, latePath, restartPath, forgetPath, pausedPath, ...replayPaths].map((path) => ({ prompt: promptFor(path), completion: editCompletion({ target: SUGGESTED_REGION }) })),
      MAX_TOKENS,
      cacheDir,
    );
    session = await LspSession.start({
      cliPath,
      dataDir: join(work, 'data'),
      modelDir,
      cacheDir,
      initializationOptions: { capture: { settleMs: 60_000, survivalChecksS: [0.2, 0.4] }, suggest: { maxTokens: MAX_TOKENS }, training: { background: false } },
      log: (line) => { log.push(line); if (process.env.GAPO_TEST_LOG) console.error(line); },
    });
    await session.waitForModel();
  });

  after(async () => {
    await session?.stop();
  });

  it('initializes with incremental sync, inline completion and the accept command', () => {
    const capabilities = session.initializeResult!.capabilities;
    const sync = capabilities.textDocumentSync;
    assert.equal(typeof sync === 'object' ? sync.change : sync, TextDocumentSyncKind.Incremental);
    assert.ok(capabilities.inlineCompletionProvider);
    assert.deepEqual(capabilities.executeCommandProvider?.commands, ['gapo.suggestion.accepted']);
    assert.equal(session.initializeResult!.serverInfo?.name, 'gapo-assistant');
  });

  it('suggests, records the accept, stores the episode and measures survival', async () => {
    const uri = pathToFileURL(acceptPath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const items = await session.inlineCompletion(uri, CURSOR);
    assert.equal(items.length, 1);
    assert.equal(items[0].insertText, 'a + b;');
    assert.deepEqual(items[0].range, { start: { line: 1, character: 9 }, end: { line: 1, character: 9 } });
    const id = items[0].command!.arguments![0] as string;

    assert.deepEqual(await session.accept(uri, items[0]), { accepted: true });
    assert.equal(session.text(uri), SUGGESTED_REGION);
    await session.save(uri);
    await session.until(() => session.episodes.some((e) => e.suggestionId === id), 'the suggestion episode');
    await session.until(() => session.outcomes.filter((o) => o.suggestionId === id && o.kind === 'survival').length === 2, 'two survival checks');

    const store = Store.open(join(work, 'data', 'gapo.db'));
    try {
      const kinds = store.outcomes(id).map((o) => o.kind);
      assert.deepEqual(kinds, ['accepted', 'survival', 'survival']);
      assert.deepEqual(store.outcomes(id).filter((o) => o.kind === 'survival').map((o) => o.share), [1, 1]);
      const episodes = store.episodes({ path: acceptPath });
      const fromSuggestion = episodes.find((e) => e.suggestionId === id)!;
      assert.equal(fromSuggestion.region, DOCUMENT);
      assert.equal(fromSuggestion.target, SUGGESTED_REGION);
      // The edit itself is an episode too, as the shared dataset would make it from a commit.
      assert.ok(episodes.some((e) => e.suggestionId === null && e.target.includes('return a + b;')));
    } finally {
      store.close();
    }
  });

  it('keeps a suggestion on screen through an autosave: Tab after it still counts as accepted', async () => {
    // VS Code's autosave (files.autoSave: afterDelay, 1 s) can fire between showing and Tab.
    const uri = pathToFileURL(autosavePath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const [item] = await session.inlineCompletion(uri, CURSOR);
    assert.equal(item.insertText, 'a + b;');
    const id = item.command!.arguments![0] as string;
    await session.save(uri, TextDocumentSaveReason.AfterDelay);
    assert.deepEqual(await session.accept(uri, item), { accepted: true });
    await session.save(uri, TextDocumentSaveReason.Manual);
    await session.until(() => session.episodes.some((e) => e.suggestionId === id), 'the suggestion episode');
    const store = Store.open(join(work, 'data', 'gapo.db'));
    try {
      assert.deepEqual(store.outcomes(id).map((o) => o.kind).filter((k) => k !== 'survival'), ['accepted']);
      assert.equal(store.episodes({ path: autosavePath }).find((e) => e.suggestionId === id)!.target, SUGGESTED_REGION);
    } finally {
      store.close();
    }
  });

  it('does not cut an edit mid-word when autosave fires while the user types', async () => {
    const uri = pathToFileURL(autosavePath).href;
    const start = session.text(uri).length;
    await session.type(uri, start, 'const total = ad', 4);
    await session.save(uri, TextDocumentSaveReason.AfterDelay);
    await session.type(uri, start + 'const total = ad'.length, 'd(1, 2);\n', 4);
    const before = session.episodes.length;
    await session.save(uri, TextDocumentSaveReason.Manual);
    await session.until(() => session.episodes.length > before, 'the edit episode');
    const store = Store.open(join(work, 'data', 'gapo.db'));
    try {
      const targets = store.episodes({ path: autosavePath }).filter((e) => e.suggestionId === null).map((e) => e.target);
      assert.ok(targets.some((t) => t.includes('const total = add(1, 2);\n')), JSON.stringify(targets));
      assert.ok(!targets.some((t) => /const total = ad\n?$/.test(t)), 'no episode ends where the autosave came');
    } finally {
      store.close();
    }
  });

  it('counts an accept that arrives after its suggestion was resolved, and rewrites its episode', async () => {
    const uri = pathToFileURL(latePath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const [item] = await session.inlineCompletion(uri, CURSOR);
    const id = item.command!.arguments![0] as string;
    // An edit outside the region resolves it as ignored, a save settles it into an episode
    // (the region unchanged); then Tab's accept arrives.
    await session.edit(uri, DOCUMENT.length, DOCUMENT.length, '\n');
    await session.save(uri, TextDocumentSaveReason.Manual);
    await session.until(() => session.episodes.some((e) => e.suggestionId === id), 'the first episode');
    assert.deepEqual(await session.accept(uri, item), { accepted: true });
    await session.save(uri, TextDocumentSaveReason.Manual);
    await session.until(() => session.episodes.filter((e) => e.suggestionId === id).length === 2, 'the episode written again');
    const store = Store.open(join(work, 'data', 'gapo.db'));
    try {
      // One verdict: the late accept replaced the ignored one (the learner and the counts read one).
      assert.deepEqual(store.outcomes(id).map((o) => o.kind).filter((k) => k !== 'survival'), ['accepted']);
      assert.equal(store.episodes({ path: latePath }).find((e) => e.suggestionId === id)!.target, SUGGESTED_REGION);
    } finally {
      store.close();
    }
  });

  it('resumes survival checks after the server is killed between two of them', async () => {
    const dataDir = join(work, 'restart-data');
    const start = () => LspSession.start({ cliPath, dataDir, modelDir, cacheDir, initializationOptions: { capture: { settleMs: 60_000, survivalChecksS: [0.3, 4] }, suggest: { maxTokens: MAX_TOKENS }, training: { background: false } } });
    const uri = pathToFileURL(restartPath).href;
    const first = await start();
    let id: string;
    try {
      await first.waitForModel();
      await first.open(uri, DOCUMENT, 'javascript');
      const [item] = await first.inlineCompletion(uri, CURSOR);
      id = item.command!.arguments![0] as string;
      assert.deepEqual(await first.accept(uri, item), { accepted: true });
      await first.until(() => first.outcomes.some((o) => o.suggestionId === id && o.kind === 'survival'), 'the first check');
    } finally {
      await first.kill('SIGKILL');
    }
    // The editor reloads: a new server, the document opened again as it was.
    const second = await start();
    try {
      await second.open(uri, SUGGESTED_REGION, 'javascript');
      await second.until(() => second.outcomes.some((o) => o.suggestionId === id && o.kind === 'survival'), 'the resumed check');
      const store = Store.open(join(dataDir, 'gapo.db'));
      try {
        assert.deepEqual(store.outcomes(id).map((o) => [o.kind, o.afterS, o.share]), [['accepted', null, null], ['survival', 0.3, 1], ['survival', 4, 1]]);
        assert.equal(store.pendingSurvivalChecks().length, 0);
      } finally {
        store.close();
      }
    } finally {
      await second.stop();
    }
  });

  it('stops the survival checks of forgotten data: no outcome of a deleted suggestion, no error', async () => {
    const uri = pathToFileURL(forgetPath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const [item] = await session.inlineCompletion(uri, CURSOR);
    const id = item.command!.arguments![0] as string;
    assert.deepEqual(await session.accept(uri, item), { accepted: true });
    const forgotten = await session.request(ForgetRequest, { uri });
    assert.equal(forgotten.suggestions, 1);
    // Its checks were due 0.2 s and 0.4 s after the accept; the accept test sees them arrive.
    await new Promise((resolve) => setTimeout(resolve, 800));
    await session.request(StatusRequest);
    assert.deepEqual(session.outcomes.filter((o) => o.suggestionId === id && o.kind === 'survival'), []);
    assert.ok(!log.some((line) => /FOREIGN KEY|uncaught|unhandled/.test(line)), log.join('\n'));
  });

  it("never captures the server's own data folder, nor a file it exported", async () => {
    const before = (await session.request(StatusRequest)).openDocuments;
    const own = join(work, 'data', 'collected-data.jsonl');
    await session.open(pathToFileURL(own).href, '{"id": "x"}\n', 'json');
    const out = join(work, 'exported.jsonl');
    await session.request(ExportRequest, { format: 'jsonl', out });
    await session.open(pathToFileURL(out).href, '{"id": "y"}\n', 'json');
    assert.equal((await session.request(StatusRequest)).openDocuments, before);
    assert.ok(log.some((line) => line.includes(`not capturing ${own}: excluded`)));
    assert.ok(log.some((line) => line.includes(`not capturing ${out}: excluded`)));
  });

  it('marks a suggestion typed over when the user writes something else', async () => {
    const uri = pathToFileURL(typeOverPath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const [item] = await session.inlineCompletion(uri, CURSOR);
    assert.equal(item.insertText, 'a + b;');
    const id = item.command!.arguments![0] as string;
    await session.type(uri, CURSOR, 'b');
    await session.until(() => session.outcomes.some((o) => o.suggestionId === id), 'an outcome');
    assert.deepEqual(session.outcomes.filter((o) => o.suggestionId === id).map((o) => o.kind), ['typed_over']);
  });

  it('answers the same place asked again (as VS Code does when its IntelliSense widget opens) with the same suggestion, recorded once and still pending', async () => {
    const uri = pathToFileURL(join(work, 'asked-twice.js')).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const shownBefore = (await session.request(StatusRequest)).suggestions.shown;
    const [first] = await session.inlineCompletion(uri, CURSOR);
    const [again] = await session.inlineCompletion(uri, CURSOR);
    assert.deepEqual(again, first, 'the same item, with the same id');
    assert.equal((await session.request(StatusRequest)).suggestions.shown, shownBefore + 1, 'recorded once');
    // Still pending: Tab's accept counts, and nothing judged it ignored first.
    const id = first.command!.arguments![0] as string;
    await session.accept(uri, first);
    await session.until(() => session.outcomes.some((o) => o.suggestionId === id), 'the outcome');
    assert.deepEqual(session.outcomes.filter((o) => o.suggestionId === id && o.kind !== 'survival').map((o) => o.kind), ['accepted']);
    // Once the document changed, the place is asked anew.
    const [later] = await session.inlineCompletion(uri, CURSOR);
    assert.notEqual(later?.command?.arguments?.[0], id);
    await session.close(uri);
  });

  it('keeps a suggestion pending while the user types along with it', async () => {
    const uri = pathToFileURL(typeOverPath).href;
    await session.edit(uri, 0, session.text(uri).length, DOCUMENT);
    const [item] = await session.inlineCompletion(uri, CURSOR);
    const id = item.command!.arguments![0] as string;
    await session.type(uri, CURSOR, 'a + ');
    // Tab on what is left of the ghost text: the editor inserts it, then runs the accept command.
    await session.edit(uri, CURSOR + 4, CURSOR + 4, 'b;');
    assert.deepEqual(await session.connection.sendRequest('workspace/executeCommand', { command: item.command!.command, arguments: [id] }), { accepted: true });
    await session.until(() => session.outcomes.some((o) => o.suggestionId === id), 'the outcome');
    assert.deepEqual(session.outcomes.filter((o) => o.suggestionId === id && o.kind !== 'survival').map((o) => o.kind), ['accepted'], 'typing along did not type it over');
  });

  it('cancels an older request when a newer one arrives, and honours $/cancelRequest', async () => {
    const uri = pathToFileURL(cancelPath).href;
    await session.open(uri, DOCUMENT, 'javascript');
    const before = (await session.request(StatusRequest)).suggestions.shown;
    const older = session.inlineCompletion(uri, CURSOR);
    const newer = session.inlineCompletion(uri, CURSOR);
    assert.deepEqual(await older, [], 'the older request gives way');
    assert.equal((await newer)[0]?.insertText, 'a + b;');
    const cancel = new CancellationTokenSource();
    // Elsewhere: the same place is answered at once from the last answer, before a cancel arrives.
    const cancelled = session.inlineCompletion(uri, CURSOR - 1, cancel);
    cancel.cancel();
    await assert.rejects(cancelled, /cancel/i);
    assert.equal((await session.request(StatusRequest)).suggestions.shown, before + 1, 'only the newer suggestion was shown');
  });

  it('replays a simulated user who accepts right suggestions, and flips choices at the noise rate', async () => {
    const episode = (path: string) => ({ id: path, language: 'javascript', path, history: [], prefix: '', region: DOCUMENT, suffix: '', cursor: CURSOR, target: SUGGESTED_REGION });
    const root = join(work, 'replay');
    const kept = await replayEpisodes(session, [episode('kept.js')], { noise: 0, seed: 1, typingChunk: 4, root });
    assert.deepEqual({ suggestions: kept.suggestions, exact: kept.exact, accepted: kept.accepted, declined: kept.declined }, { suggestions: 1, exact: 1, accepted: 1, declined: 0 });
    const flipped = await replayEpisodes(session, [episode('flipped.js')], { noise: 1, seed: 1, typingChunk: 4, root });
    assert.deepEqual({ suggestions: flipped.suggestions, exact: flipped.exact, accepted: flipped.accepted, declined: flipped.declined }, { suggestions: 1, exact: 1, accepted: 0, declined: 1 });
    // Declining a right suggestion and typing the same text by hand is typing along, not typing over.
    await session.request(StatusRequest); // the episodes' notifications come before this answer
    const flippedId = session.episodes.find((e) => e.suggestionId && e.path.endsWith('flipped.js'))!.suggestionId!;
    assert.deepEqual(session.outcomes.filter((o) => o.suggestionId === flippedId).map((o) => o.kind), ['ignored']);
  });

  it('reports counts in gapo/status', async () => {
    const status = await session.request(StatusRequest);
    assert.equal(status.modelState, 'ready');
    assert.equal(status.adapterVersion, 0);
    assert.ok(status.suggestions.shown >= 3);
    assert.equal(status.suggestions.accepted, 6);
    assert.equal(status.suggestions.typedOver, 1);
    assert.ok(status.episodes.total >= 2);
    assert.equal(status.training.state, 'idle');
  });

  it('still suggests while learning is paused, but stores neither the suggestion, its accept, nor the edit', async () => {
    await session.request(SetLearningRequest, { paused: true });
    try {
      const before = await session.request(StatusRequest);
      const uri = pathToFileURL(pausedPath).href;
      await session.open(uri, DOCUMENT, 'javascript');
      const [item] = await session.inlineCompletion(uri, CURSOR);
      assert.equal(item?.insertText, 'a + b;', 'suggestions go on');
      assert.deepEqual(await session.accept(uri, item), { accepted: true });
      await session.save(uri);
      await session.close(uri);
      const after = await session.request(StatusRequest);
      assert.equal(after.learning, 'paused');
      assert.deepEqual([after.suggestions.shown, after.suggestions.accepted, after.episodes.total], [before.suggestions.shown, before.suggestions.accepted, before.episodes.total]);
      assert.ok(!(await session.request(DashboardRequest)).collected.some((f) => f.path === pausedPath), 'no edit of the file either');
    } finally {
      await session.request(SetLearningRequest, { paused: false });
    }
  });

  it('measures the characters a typing user saves: a suggestion that writes what comes next is accepted', async () => {
    const root = join(work, 'typing');
    const add = { id: 'add', language: 'javascript', path: 'add.js', history: [], prefix: '', region: DOCUMENT, suffix: '', cursor: CURSOR, target: SUGGESTED_REGION };
    const shownBefore = (await session.request(StatusRequest)).suggestions.shown;
    const stats = await replayTyping(session, [add], { root });
    assert.deepEqual({ ...stats, latencyP50Ms: 0, latencyP95Ms: 0 }, { episodes: 1, charsTotal: 'a + b;'.length, charsSaved: 'a + b;'.length, whitespaceTotal: 2, whitespaceSaved: 2, requests: 1, shown: 1, accepted: 1, latencyP50Ms: 0, latencyP95Ms: 0, savedPerEpisode: ['a + b;'.length] });
    assert.ok(stats.latencyP50Ms > 0 && stats.latencyP95Ms >= stats.latencyP50Ms);
    assert.equal((await session.request(StatusRequest)).suggestions.shown, shownBefore + 1, 'the server saw the request');
    const addId = session.episodes.find((e) => e.suggestionId && e.path.endsWith('add.js'))?.suggestionId;
    await session.until(() => session.outcomes.some((o) => o.suggestionId === addId && o.kind === 'accepted'), 'the accept outcome');

    // A different edit: whatever the model offers, the user ends with the target and is
    // credited only with characters an accepted suggestion wrote.
    const sub = { ...add, id: 'sub', path: 'sub.js', region: DOCUMENT.replace('add', 'sub'), target: SUGGESTED_REGION.replace('add', 'sub').replace('+', '-') };
    const typed = await replayTyping(session, [sub], { root });
    assert.equal(typed.charsTotal, 'a - b;'.length);
    assert.ok(typed.charsSaved <= typed.charsTotal && typed.accepted <= typed.shown && typed.shown <= typed.requests);
    assert.ok(typed.requests >= 4, `asks at each word boundary (${typed.requests})`);

    // With a cap on requests the rest of the edit arrives as a paste and is not counted.
    const capped = await replayTyping(session, [{ ...sub, id: 'sub-capped', path: 'sub-capped.js' }], { root, maxRequestsPerEpisode: 1 });
    assert.equal(capped.requests, 1);
    assert.ok(capped.charsTotal < typed.charsTotal || capped.accepted === 1, `only what was typed before the paste counts (${capped.charsTotal} of ${typed.charsTotal})`);
  });

  it('judges an adapter trained elsewhere with the eval gate: the next version, kept but not live when it gains nothing', async () => {
    const before = await session.request(StatusRequest);
    const config = readModelConfig(modelDir);
    // LoRA's B starts at zero: this adapter changes nothing, so it must not go live.
    const neutral = join(work, 'imported', 'neutral');
    LoraAdapter.create(config, { rank: 4, alpha: 8, seed: 1 }).save(neutral, modelDir);
    const run = await session.request(ImportAdapterRequest, { dir: neutral });
    assert.equal(run.status, 'kept', run.error ?? '');
    assert.equal(run.adapterVersion, before.adapterVersion + 1);
    assert.deepEqual(run.candidate, run.live, 'the held-out episodes typed with it and with the live adapter');
    assert.ok(run.live!.episodes >= 4 && run.live!.charsTotal > 0);
    assert.deepEqual({ deploy: run.verdict!.deploy, gain: run.verdict!.gain }, { deploy: false, gain: 0 });
    assert.equal((await session.request(StatusRequest)).adapterVersion, before.adapterVersion, 'the live adapter stays');
    const stats = await session.request(StatsRequest, undefined);
    assert.equal(stats.runs[0].trigger, 'import');
    assert.equal(stats.runs[0].trainEpisodes, 0, 'nothing was trained');
    assert.deepEqual(stats.adapters.at(-1)?.eval?.verdict, run.verdict, 'the verdict is kept with the version');

    // An adapter that makes every suggestion different: it types no better, and stays out.
    const noisy = LoraAdapter.create(config, { rank: 4, alpha: 8, seed: 2 });
    for (const { b } of noisy.modules.values()) for (let i = 0; i < b.length; i++) b[i] = Math.sin(i * 12.9898) * 0.5;
    noisy.save(join(work, 'imported', 'noisy'), modelDir);
    const worse = await session.request(ImportAdapterRequest, { dir: join(work, 'imported', 'noisy') });
    assert.equal(worse.status, 'kept', JSON.stringify(worse.verdict));
    assert.ok(worse.verdict!.gain <= worse.verdict!.margin, 'no gain beyond the noise');
    assert.equal((await session.request(StatusRequest)).adapterVersion, before.adapterVersion);

    // An adapter for another model's shapes fails with the reason, and nothing goes live.
    const foreign = join(work, 'imported', 'foreign');
    LoraAdapter.create({ ...config, hiddenSize: config.hiddenSize * 2, headDim: config.headDim * 2 }, { rank: 4, alpha: 8 }).save(foreign, modelDir);
    const failed = await session.request(ImportAdapterRequest, { dir: foreign });
    assert.equal(failed.status, 'failed');
    assert.match(failed.error ?? '', /shape|size|expected/i);
    assert.equal((await session.request(StatusRequest)).adapterVersion, before.adapterVersion);
  });

  it('answers an unknown request with an error and keeps serving', async () => {
    await assert.rejects(session.connection.sendRequest('gapo/noSuchRequest', {}), /Unhandled method/);
    assert.equal((await session.request(StatusRequest)).openDocuments, 6);
    assert.ok(session.alive);
  });
});

describe('a fill-in-the-middle model through the language server', () => {
  const work = tempDir('server-fim');
  const cacheDir = tempDir('server-fim-cache');
  const fim = fimFormat('fim-spm', { ...QWEN_FIM_TOKENS, fileSeparator: undefined });
  let modelDir: string;
  const start = (dataDir: string, suggest: Record<string, unknown>) =>
    LspSession.start({
      cliPath,
      dataDir,
      modelDir,
      cacheDir,
      // The taught model declares the edit format: the option makes the server speak FIM to it.
      initializationOptions: { promptFormat: 'fim-spm', capture: { settleMs: 60_000 }, suggest: { maxTokens: 24, ...suggest }, training: { background: false } },
    });

  before(async () => {
    // Taught to answer the FIM prompt of DOCUMENT at CURSOR with the insertion and the end token.
    const episode = { history: [], path: 'add.js', prefix: '', region: DOCUMENT, suffix: '', cursor: CURSOR };
    modelDir = await makeTaughtModel([{ prompt: fim.prompt(episode), completion: fim.completion({ ...episode, target: SUGGESTED_REGION })! }], 24, cacheDir);
  });

  it('shows the insertion as ghost text at the cursor; accepted, the episode holds the rewritten region', async () => {
    const dataDir = join(work, 'data-open');
    const session = await start(dataDir, { minProbability: 0 });
    try {
      await session.waitForModel();
      const uri = pathToFileURL(join(work, 'add.js')).href;
      await session.open(uri, DOCUMENT, 'javascript');
      const [item] = await session.inlineCompletion(uri, CURSOR);
      assert.equal(item.insertText, 'a + b;');
      assert.deepEqual(item.range, { start: { line: 1, character: 9 }, end: { line: 1, character: 9 } });
      const id = item.command!.arguments![0] as string;
      await session.accept(uri, item);
      await session.save(uri);
      await session.until(() => session.episodes.some((e) => e.suggestionId === id), 'the suggestion episode');
      const store = Store.open(join(dataDir, 'gapo.db'));
      try {
        const episode = store.episodes({}).find((e) => e.suggestionId === id)!;
        assert.equal(episode.target, SUGGESTED_REGION);
        assert.equal(store.shownSuggestion(id)?.rewritten, SUGGESTED_REGION, 'the shown answer is stored as the region it makes');
      } finally {
        store.close();
      }
    } finally {
      await session.stop();
    }
  });

  it('shows nothing the model is less sure of than the confidence gate', async () => {
    const session = await start(join(work, 'data-gated'), { minProbability: 0.9999999 });
    try {
      await session.waitForModel();
      const uri = pathToFileURL(join(work, 'gated.js')).href;
      await session.open(uri, DOCUMENT, 'javascript');
      assert.deepEqual(await session.inlineCompletion(uri, CURSOR), []);
    } finally {
      await session.stop();
    }
  });
});
