// The bundled default model as an editor feels it: suggestion latency through the language
// server with its default settings, cold (each request in another document, so little of
// the prompt is cached) and with a reused prefix (typing real edits, a request after each
// character), measured alternately in one run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { readEpisodes } from '../../server/src/edits/episode';
import { asTyping, insertionAtCursor } from '../../server/src/edits/prompt-format';
import { defaultPromptLimits } from '../../server/src/edits/prompt';
import { defaultSuggestOptions } from '../../server/src/lsp/options';
import { LspSession } from '../../server/src/replay/lsp-session';
import { tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { table } from './timing';

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

export async function benchDefaultModel(): Promise<void> {
  const modelDir = join(repoRoot, 'models', 'default');
  if (!existsSync(join(modelDir, 'config.json'))) {
    console.log('no bundled model (models/default): skipped');
    return;
  }
  const work = tempDir('bench-default');
  const session = await LspSession.start({ cliPath, dataDir: join(work, 'data'), modelDir, cacheDir: join(repoRoot, '.bench-cache', 'weights'), initializationOptions: { capture: { settleMs: 60_000 }, training: { background: false } } });
  await session.waitForModel();
  const episodes = readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl')).slice(0, 12);
  const docs: { uri: string; offset: number }[] = [];
  for (const [i, e] of episodes.entries()) {
    const uri = pathToFileURL(join(work, 'open', `${i}-${e.path}`)).href;
    await session.open(uri, e.prefix + e.region + e.suffix, e.language);
    docs.push({ uri, offset: e.prefix.length + e.cursor });
  }
  // The reused-prefix case types real edits: each episode's new text, a character at a time,
  // where it goes (what the edit removes deleted first), as the typing replay does.
  const typingDocs = episodes.map((e, i) => {
    const typed = asTyping(e);
    return { uri: pathToFileURL(join(work, 'typing', `${i}-${e.path}`)).href, episode: typed, text: insertionAtCursor(typed) ?? '' };
  }).filter((doc) => doc.text.length > 0); // a pure deletion types nothing
  for (const doc of typingDocs) await session.open(doc.uri, doc.episode.prefix + doc.episode.region + doc.episode.suffix, doc.episode.language);
  let typingDoc = 0;
  let typedChars = 0;
  /** Types the next character of the current edit (the next edit once one is done); returns where the cursor is. */
  const typeNext = async (): Promise<{ uri: string; offset: number }> => {
    while (typedChars >= typingDocs[typingDoc].text.length) {
      typingDoc = (typingDoc + 1) % typingDocs.length;
      typedChars = 0;
    }
    const doc = typingDocs[typingDoc];
    const at = doc.episode.prefix.length + doc.episode.cursor + typedChars;
    await session.edit(doc.uri, at, at, doc.text[typedChars]);
    typedChars++;
    return { uri: doc.uri, offset: at + 1 };
  };

  const time = async (uri: string, offset: number) => {
    const start = performance.now();
    await session.inlineCompletion(uri, offset);
    return performance.now() - start;
  };
  const cold: number[] = [];
  const reused: number[] = [];
  await time(docs[0].uri, docs[0].offset); // warm-up
  for (let i = 0; i < 40; i++) {
    const doc = docs[(i + 1) % docs.length];
    cold.push(await time(doc.uri, doc.offset));
    // One more character typed: the prompt up to the cursor is cached from the previous
    // request there (the cold request in between evicts it: ask twice).
    const first = await typeNext();
    await time(first.uri, first.offset);
    const second = await typeNext();
    reused.push(await time(second.uri, second.offset));
  }
  await session.stop();
  table([
    { prompt: 'cold (another document each time)', requests: cold.length, 'p50 ms': percentile(cold, 50).toFixed(1), 'p95 ms': percentile(cold, 95).toFixed(1) },
    { prompt: 'reused prefix (one more character typed)', requests: reused.length, 'p50 ms': percentile(reused, 50).toFixed(1), 'p95 ms': percentile(reused, 95).toFixed(1) },
  ]);
  console.log(`\nmodels/default through the language server with its default settings (prompts of ${defaultPromptLimits.contextLines} context lines and ${defaultPromptLimits.historyDiffs} recent edits, answers up to ${defaultSuggestOptions.maxTokens} tokens, the prompt format's confidence gate)`);
}
