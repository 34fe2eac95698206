import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { InitializationOptions, RunResult } from '../protocol';
import { episodesFromGit } from '../replay/git-episodes';
import { replayEpisodes } from '../replay/replay';
import { replayTyping, type TypingStats } from '../replay/typing';
import { defaultPromptLimits } from '../edits/prompt';
import { StatusRequest, TrainNowRequest } from '../protocol';
import { defaultDataDir } from '../lsp/options';
import { FIM_MIN_PROBABILITY } from '../edits/prompt-format';
import { type Command, type CommandIO, UsageError } from './command';
import { modelDirOrBundled, nonNegativeNumber, optionalProbability, positiveInteger } from './engine-options';
import { startServerSession } from './server-session';
import { ProgressBar } from './progress';
import { type Episode, readEpisodes } from '../edits/episode';
import { defaultTrainingSettings } from '../gapo/training-job';
import type { LspSession } from '../replay/lsp-session';

export const replayCommand: Command = {
  name: 'replay',
  summary: 'drive the language server as a simulated user through recorded or git-history edits',
  usage: `gapo replay (--episodes FILE.jsonl | --git REPO) [--model DIR] [--data DIR] [--train] [--noise P]
                  [--limit N] [--max-commits 500] [--steps N] [--group G] [--context-lines N]
                  [--history-diffs N] [--snippets N] [--min-probability P] [--prompt-format F] [--seed 0] [--json]
       gapo replay --typing --episodes FILE.jsonl [--model DIR] [--adapter DIR] [--limit N]
                  [--min-probability P] [--prompt-format F] [--json]

Starts \`gapo serve --stdio\` and, for each episode oldest first, opens the file, asks for a
suggestion at the cursor, accepts it when it writes exactly the user's edit and types over it
otherwise (--noise P flips that choice with probability P), types the rest of the edit and
saves, so the server captures episodes and outcomes over LSP alone. --git REPO makes the
episodes from the repository's history (each commit's hunks as successive edits). With
--train it then asks the server to train (gapo/trainNow) and prints exact match and edit
similarity on the held-out episodes (the most recent ones) before and after.

--typing measures the characters the assistant saves: for each episode (the first N with
--limit) the simulated user types the edit from region to target, following a character
diff (deletions at once), asks for a suggestion at each word boundary and accepts it (Tab:
the edit, then its command) when it leaves less to type and nothing more to delete. With
--json it prints {"episodes", "charsTotal", "charsSaved", "whitespaceTotal", "whitespaceSaved",
"requests", "shown", "accepted", "latencyP50Ms", "latencyP95Ms"} (white space: indentation and
newlines, which this user types by hand where an editor indents by itself). Its data folder is a temporary one unless --data is given.
Without --model, the bundled default model.

  --data DIR      the server's data folder (default ${defaultDataDir()})
  --limit N       replay only the N most recent episodes
  --steps N       GAPO steps of the training run (default ${defaultTrainingSettings.steps})
  --context-lines N  lines of code before and after the region in prompts (default ${defaultPromptLimits.contextLines};
                  fewer make suggestions and training cheaper)
  --history-diffs N  recent edits (unified diffs) in prompts (default ${defaultPromptLimits.historyDiffs})
  --snippets N    chunks of other open or recently edited files in prompts, those most like the
                  lines at the cursor (default ${defaultPromptLimits.snippets ?? 0}; fill-in-the-middle formats)
  --group G       rollouts per prompt (default ${defaultTrainingSettings.group})
  --min-probability P  the suggestions' confidence gate: an answer ends before a token the model
                  gives less than P (default: the prompt format's own, ${FIM_MIN_PROBABILITY} for
                  insertions, none for rewrites)
  --prompt-format F  edit, fim-psm or fim-spm (default: the model's own)
  --adapter DIR   with --typing: serve with this LoRA adapter (PEFT layout)
  --cache DIR     where converted weights are kept`,

  async run(args, io) {
    const values = parseReplayArgs(args);
    const episodes = replayedEpisodes(values);
    const dataDir = resolve(values.data ?? (values.typing ? mkdtempSync(join(tmpdir(), 'gapo-typing-')) : defaultDataDir()));
    // Where the replayed files seem to live: the repository itself, as its user would edit it
    // (never inside the data folder, whose files the server does not capture).
    const root = resolve(values.git ?? dirname(values.episodes!));
    const session = await startServerSession(
      { dataDir, modelDir: modelDirOrBundled(values.model), cacheDir: values.cache, verbose: values.verbose, initializationOptions: serverOptions(values) },
      io,
    );
    try {
      io.stderr(`replaying ${episodes.length} episodes through the language server (data in ${dataDir})\n`);
      const progress = new ProgressBar(episodes.length, io.stderr);
      const onEpisode = (done: number) => progress.update(done, '');
      if (values.typing) {
        const typing = await replayTyping(session, episodes, { root, onEpisode });
        progress.done();
        io.stdout(values.json ? JSON.stringify(typing) + '\n' : describeTyping(typing));
        return 0;
      }
      return await replayAndTrain(session, episodes, values, { root, onEpisode, done: () => progress.done() }, io);
    } finally {
      await session.stop();
    }
  },
};

function parseReplayArgs(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      episodes: { type: 'string' },
      git: { type: 'string' },
      model: { type: 'string' },
      adapter: { type: 'string' },
      typing: { type: 'boolean', default: false },
      data: { type: 'string' },
      cache: { type: 'string' },
      train: { type: 'boolean', default: false },
      noise: { type: 'string', default: '0' },
      limit: { type: 'string' },
      'max-commits': { type: 'string', default: '500' },
      steps: { type: 'string', default: String(defaultTrainingSettings.steps) },
      'context-lines': { type: 'string', default: String(defaultPromptLimits.contextLines) },
      'history-diffs': { type: 'string', default: String(defaultPromptLimits.historyDiffs) },
      snippets: { type: 'string', default: String(defaultPromptLimits.snippets ?? 0) },
      group: { type: 'string', default: String(defaultTrainingSettings.group) },
      'min-probability': { type: 'string' },
      'prompt-format': { type: 'string' },
      seed: { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.episodes === !values.git) throw new UsageError('give one of --episodes FILE.jsonl or --git REPO');
  if (values.typing && !values.episodes) throw new UsageError('--typing needs --episodes FILE.jsonl');
  if (values.adapter && !values.typing) throw new UsageError('--adapter goes with --typing');
  // The numbers read once, before the server starts: a usage error costs no model load.
  const noise = nonNegativeNumber('--noise', values.noise);
  if (noise > 1) throw new UsageError(`--noise must be between 0 and 1, got ${values.noise}`);
  return { ...values, noise, minProbability: optionalProbability('--min-probability', values['min-probability']) };
}

type ReplayArgs = ReturnType<typeof parseReplayArgs>;

/** The episodes to replay: from the file or the repository's history, cut by --limit. */
function replayedEpisodes(values: ReplayArgs): Episode[] {
  let episodes;
  try {
    episodes = values.episodes ? readEpisodes(values.episodes) : episodesFromGit(values.git!, positiveInteger('--max-commits', values['max-commits']));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.limit) {
    const limit = positiveInteger('--limit', values.limit);
    // Typing measures on the first N; the learning replay keeps the most recent N.
    episodes = values.typing ? episodes.slice(0, limit) : episodes.slice(-limit);
  }
  if (episodes.length === 0) throw new UsageError('no episodes to replay');
  return episodes;
}

/** The server's settings for a replay: settling on save, no background training (it would race the replay). */
function serverOptions(values: ReplayArgs): InitializationOptions {
  return {
    capture: { settleMs: 60_000 },
    prompt: {
      contextLines: positiveInteger('--context-lines', values['context-lines']),
      historyDiffs: Math.floor(nonNegativeNumber('--history-diffs', values['history-diffs'])),
      snippets: Math.floor(nonNegativeNumber('--snippets', values.snippets)),
    },
    suggest: { minProbability: values.minProbability },
    ...(values['prompt-format'] ? { promptFormat: values['prompt-format'] } : {}),
    training: { background: false, steps: positiveInteger('--steps', values.steps), group: positiveInteger('--group', values.group) },
    ...(values.adapter ? { adapterDir: resolve(values.adapter) } : {}),
  };
}

/** Replays the episodes as a user who accepts right suggestions (--noise flips some), then trains with --train. */
async function replayAndTrain(session: LspSession, episodes: Episode[], values: ReplayArgs, options: { root: string; onEpisode: (done: number) => void; done: () => void }, io: CommandIO): Promise<number> {
  const stats = await replayEpisodes(session, episodes, { noise: values.noise, seed: Math.floor(nonNegativeNumber('--seed', values.seed)), typingChunk: 4, root: options.root, onEpisode: options.onEpisode });
  options.done();
  const status = await session.request(StatusRequest);
  io.stderr(
    `replayed ${stats.episodes} episodes: ${stats.suggestions} suggestions (${stats.exact} exactly right), ${stats.accepted} accepted, ${stats.declined} declined; ` +
      `the store holds ${status.episodes.total} episodes\n`,
  );
  let training: RunResult | null = null;
  if (values.train) {
    io.stderr(`training (${TrainNowRequest.method})...\n`);
    try {
      training = await session.request(TrainNowRequest);
    } catch (error) {
      throw new UsageError(`training: ${(error as Error).message}`);
    }
    if (training.verdict) io.stderr(describeTraining(training));
    else io.stderr(`training ${training.status}: ${training.error}\n`);
  }
  if (values.json) io.stdout(JSON.stringify({ replay: stats, status, training }) + '\n');
  return training && training.status === 'failed' ? 1 : 0;
}

function describeTyping(t: TypingStats): string {
  const pct = (a: number, b: number) => `${b ? ((100 * a) / b).toFixed(1) : '0.0'}%`;
  return (
    `episodes: ${t.episodes}; characters the edits insert: ${t.charsTotal}\n` +
    `saved by accepted suggestions: ${t.charsSaved} (${pct(t.charsSaved, t.charsTotal)}); white space: ${t.whitespaceSaved} of ${t.whitespaceTotal} saved\n` +
    `suggestions: ${t.requests} asked, ${t.shown} shown, ${t.accepted} accepted (${pct(t.accepted, t.shown)} of shown)\n` +
    `latency through the server: p50 ${t.latencyP50Ms} ms, p95 ${t.latencyP95Ms} ms\n`
  );
}

function describeTraining(run: RunResult): string {
  return `adapter v${run.adapterVersion} ${run.status === 'deployed' ? 'is live' : 'kept, not live'}: ${run.verdict!.reason}\n`;
}
