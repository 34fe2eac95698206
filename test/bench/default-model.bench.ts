// The bundled default model as an editor feels it: suggestion latency through the language
// server with its default settings, cold (each request in another document, so little of
// the prompt is cached) and with a reused prefix (typing in one document, a request after
// each character), measured alternately in one run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { readEpisodes } from '../../server/src/edits/episode';
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
  const typingUri = pathToFileURL(join(work, 'typing.ts')).href;
  const typed = episodes[0];
  await session.open(typingUri, typed.prefix + typed.region + typed.suffix, typed.language);
  let typingAt = typed.prefix.length + typed.cursor;

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
    // The same document with one more character typed: the prompt up to the cursor is cached
    // from the previous request there (the cold request in between evicts it: ask twice).
    await session.edit(typingUri, typingAt, typingAt, 'x');
    typingAt++;
    await time(typingUri, typingAt);
    await session.edit(typingUri, typingAt, typingAt, 'y');
    typingAt++;
    reused.push(await time(typingUri, typingAt));
  }
  await session.stop();
  table([
    { prompt: 'cold (another document each time)', requests: cold.length, 'p50 ms': percentile(cold, 50).toFixed(1), 'p95 ms': percentile(cold, 95).toFixed(1) },
    { prompt: 'reused prefix (one more character typed)', requests: reused.length, 'p50 ms': percentile(reused, 50).toFixed(1), 'p95 ms': percentile(reused, 95).toFixed(1) },
  ]);
  console.log(`\nmodels/default through the language server with its default settings (prompts of ${defaultPromptLimits.contextLines} context lines and ${defaultPromptLimits.historyDiffs} recent edits, answers up to ${defaultSuggestOptions.maxTokens} tokens, confidence gate ${defaultSuggestOptions.minProbability})`);
}
