// `npm run bench:learning`: does GAPO learn better than GRPO and Dr. GRPO from the noisy
// feedback an editor produces? Each arm trains a LoRA on the bundled default model from the
// same training episodes, in the same order, with the same seeds and the same noise, and is
// scored in domain (the training repository's later commits) and out of domain (the other
// repositories, the other language included): exact match and edit similarity of greedy
// answers, and the characters a simulated user saves by typing through the language server.
// A second part replays a repository's history through the server as a user's editing would,
// trains there with GAPO and with GRPO (eval gate included), and types the later commits.
// The report (README.md, results.json, SVG plots) goes to docs/benchmarks/learning/ or --out.

import '../../../server/src/no-telemetry'; // first: before anything can load ONNX Runtime
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readEpisodes, type Episode } from '../../../server/src/edits/episode';
import { trimContext } from '../../../server/src/edits/prompt';
import { formatOf } from '../../../server/src/edits/prompt-format';
import { seededRandom, shuffled } from '../../../server/src/edits/text';
import { Engine } from '../../../server/src/model/engine';
import { LoraAdapter } from '../../../server/src/model/lora';
import { type GroupSummary, type HeldOutTyping, type RunResult, TrainNowRequest, type PromptLimits, type EstimatorName, type InitializationOptions } from '../../../server/src/protocol';
import { defaultGapoSettings } from '../../../server/src/gapo/gapo-settings';
import { LspSession } from '../../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../../server/src/replay/replay';
import { replayTyping, type TypingStats } from '../../../server/src/replay/typing';
import { evaluateEpisodes } from '../../../server/src/gapo/evaluate';
import { gapoRun, type RunPrompt } from '../../../server/src/gapo/gapo-run';
import { editAndExactMatch } from '../../../server/src/gapo/reward';
import { defaultAdamW } from '../../../server/src/trainer/adamw';
import { PolicyTrainer } from '../../../server/src/trainer/trainer';
import { cliPath, repoRoot } from '../../helpers/paths';
import { cleanNoise, helps, type Noise, noiseName, noisyEpisodes, noisyReward, shownBonus } from './noise';
import { saved, writeReport } from './report';

export interface Arm {
  name: string;
  /** None: the untrained model. */
  estimator: EstimatorName | null;
  tau: number;
}

export const ARMS: Arm[] = [
  { name: 'none', estimator: null, tau: defaultGapoSettings.tau },
  { name: 'gapo', estimator: 'gapo', tau: defaultGapoSettings.tau },
  { name: 'grpo', estimator: 'grpo', tau: defaultGapoSettings.tau },
  { name: 'drgrpo', estimator: 'drgrpo', tau: defaultGapoSettings.tau },
  { name: 'gapo τ=0.3', estimator: 'gapo', tau: 0.3 },
  { name: 'gapo τ=0.7', estimator: 'gapo', tau: 0.7 },
];

/** The arms that vary τ run under these conditions only (they are the costliest part). */
const TAU_ARMS = new Set(['gapo τ=0.3', 'gapo τ=0.7']);

export interface Settings {
  quick: boolean;
  seeds: number[];
  noises: Noise[];
  /** Conditions the τ arms run under. */
  tauNoises: Noise[];
  /** Context of every prompt, training, scoring and serving alike (the server's defaults are 12 and 3). */
  prompt: PromptLimits;
  steps: number;
  promptsPerStep: number;
  group: number;
  maxTokens: number;
  /** PPO epochs over each step's rollouts: past the first, ratios leave 1 and clipping can happen. */
  epochs: number;
  learningRate: number;
  rank: number;
  alpha: number;
  /** Steps after which the in-domain set is scored for the curve (0: before training). */
  curveSteps: number[];
  /** Episodes scored in domain, and per out-of-domain file. */
  inDomain: number;
  outOfDomain: number;
  /** In-domain episodes typed through the server per run. */
  typing: number;
  /** The user's gain: recent training episodes replayed through the server, test episodes typed after. */
  gain: { history: number; typing: number; steps: number; seeds: number[] };
}

const FULL: Omit<Settings, 'quick'> = {
  seeds: [0, 1, 2],
  noises: [
    cleanNoise,
    { kind: 'flips', level: 0.2 },
    { kind: 'flips', level: 0.4 },
    { kind: 'outliers', level: 0.1 },
    { kind: 'outliers', level: 0.25 },
    { kind: 'half-finished', level: 0.25 },
    { kind: 'half-finished', level: 0.5 },
  ],
  tauNoises: [cleanNoise, { kind: 'flips', level: 0.4 }, { kind: 'outliers', level: 0.25 }],
  prompt: { contextLines: 6, historyDiffs: 1 },
  steps: 6,
  promptsPerStep: defaultGapoSettings.promptsPerStep,
  group: defaultGapoSettings.group,
  // Short rollouts and a bold step: the bench must show movement within minutes.
  maxTokens: 48,
  epochs: 2,
  learningRate: 1e-3,
  rank: defaultGapoSettings.rank,
  alpha: defaultGapoSettings.alpha,
  curveSteps: [0, 2, 4, 6],
  inDomain: 60,
  outOfDomain: 15,
  typing: 10,
  gain: { history: 48, typing: 15, steps: 6, seeds: [0] },
};

const QUICK: Omit<Settings, 'quick'> = {
  seeds: [0],
  noises: [cleanNoise, { kind: 'flips', level: 0.4 }, { kind: 'outliers', level: 0.25 }, { kind: 'half-finished', level: 0.5 }],
  tauNoises: [cleanNoise],
  prompt: { contextLines: 4, historyDiffs: 1 },
  steps: 1,
  promptsPerStep: 2,
  group: 4,
  maxTokens: 16,
  epochs: 2,
  learningRate: 1e-3,
  rank: 4,
  alpha: 8,
  curveSteps: [0, 1],
  inDomain: 3,
  outOfDomain: 2,
  typing: 1,
  gain: { history: 8, typing: 1, steps: 1, seeds: [0] },
};

/** The scores of one arm after training under one noise with one seed. */
export interface RunRecord {
  arm: string;
  noise: string;
  seed: number;
  inDomain: Score;
  outOfDomain: Score;
  typing: TypingStats;
  /** In-domain exact match and edit similarity after each of settings.curveSteps. */
  curve: { step: number; exactMatch: number; editSimilarity: number }[];
  /** Mean share of tokens clipped (below and above) over the steps. */
  clipFraction: number;
  /** Share of groups whose Q lies more than 0.1 from their mean. */
  qFarFromMean: number;
  tokensPerSecond: number;
  /** Of the run's time: sampling the rollouts, and the updates. */
  rolloutSeconds: number;
  updateSeconds: number;
  seconds: number;
  groups: GroupSummary[];
}

export interface Score {
  n: number;
  exactMatch: number;
  editSimilarity: number;
  baselineEditSimilarity: number;
}

export interface GainRecord {
  arm: string;
  seed: number;
  before: TypingStats | null;
  after: TypingStats;
  status: RunResult['status'] | 'none';
  live: HeldOutTyping | null;
  candidate: HeldOutTyping | null;
}

export interface Results {
  settings: Settings;
  model: string;
  train: string[];
  inDomainTests: string[];
  outOfDomainTests: string[];
  startedAt: string;
  minutes: number;
  runs: RunRecord[];
  gain: GainRecord[];
}

const SHARED = join(repoRoot, '..', 'shared', 'data', 'edits');
const EVAL_MAX_TOKENS = 64;

interface Options {
  quick: boolean;
  /** Only write the report again from the results.json in --out. */
  render: boolean;
  train: string[];
  test: string[];
  out: string;
  model: string;
}

/** `--train FILE... --test FILE... --out DIR --model DIR --quick`: a flag takes the words after it up to the next flag. */
export function parseOptions(argv: string[]): Options {
  const lists: Record<string, string[]> = { train: [], test: [], out: [], model: [] };
  let quick = false;
  let render = false;
  let current: string | null = null;
  for (const arg of argv) {
    if (arg === '--quick' || arg === '--render') {
      if (arg === '--quick') quick = true;
      else render = true;
      current = null;
    } else if (arg.startsWith('--')) {
      const name = arg.slice(2);
      if (!(name in lists)) throw new Error(`unknown option ${arg} (--train FILE..., --test FILE..., --out DIR, --model DIR, --quick, --render)`);
      current = name;
    } else if (current) lists[current].push(arg);
    else throw new Error(`${arg}: which option is it for?`);
  }
  for (const name of ['out', 'model']) if (lists[name].length > 1) throw new Error(`--${name} takes one folder`);
  const train = lists.train.length ? lists.train : [join(SHARED, 'click.train.jsonl')];
  const test = lists.test.length ? lists.test : ['click', 'flask', 'axios', 'commander', 'ky', 'got', 'yargs'].map((name) => join(SHARED, `${name}.test.jsonl`));
  return {
    quick,
    render,
    train: train.map((f) => resolve(f)),
    test: test.map((f) => resolve(f)),
    out: resolve(lists.out[0] ?? join(repoRoot, 'docs', 'benchmarks', 'learning')),
    model: resolve(lists.model[0] ?? join(repoRoot, 'models', 'default')),
  };
}

/** The repository a file of episodes comes from: its name before `.train`/`.test`. */
const repositoryOf = (file: string) => basename(file).replace(/\.(train|test)?\.?jsonl$/, '');

/** Episodes oldest first (by date where they have one; file order otherwise). */
function inTimeOrder(episodes: Episode[]): Episode[] {
  return episodes.map((e, i) => ({ e, i })).sort((a, b) => (a.e.date ?? '').localeCompare(b.e.date ?? '') || a.i - b.i).map(({ e }) => e);
}

export async function benchLearning(argv: string[]): Promise<Results> {
  const options = parseOptions(argv);
  if (options.render) {
    const results = readResults(options.out);
    writeReport(options.out, results);
    return results;
  }
  const settings: Settings = { quick: options.quick, ...(options.quick ? QUICK : FULL) };
  const started = performance.now();
  const trainRepos = new Set(options.train.map(repositoryOf));
  const inDomainTests = options.test.filter((f) => trainRepos.has(repositoryOf(f)));
  const outOfDomainTests = options.test.filter((f) => !trainRepos.has(repositoryOf(f)));
  const trainEpisodes = inTimeOrder(options.train.flatMap((f) => readEpisodes(f)));
  const inDomain = inDomainTests.flatMap((f) => inTimeOrder(readEpisodes(f)).slice(0, settings.inDomain));
  const outOfDomain = outOfDomainTests.flatMap((f) => inTimeOrder(readEpisodes(f)).slice(0, settings.outOfDomain));
  if (trainEpisodes.length === 0) throw new Error('no training episodes');
  if (inDomain.length + outOfDomain.length === 0) throw new Error('no test episodes');
  const results: Results = {
    settings,
    model: options.model,
    train: options.train,
    inDomainTests,
    outOfDomainTests,
    startedAt: new Date().toISOString(),
    minutes: 0,
    runs: [],
    gain: [],
  };
  const work = mkdtempSync(join(tmpdir(), 'gapo-learning-'));
  const log = (line: string) => console.log(`[${((performance.now() - started) / 60_000).toFixed(1)} min] ${line}`);
  log(`training on ${trainEpisodes.length} episodes of ${[...trainRepos].join(', ')}; ${inDomain.length} in-domain and ${outOfDomain.length} out-of-domain test episodes`);

  const engine = await Engine.load({ modelDir: options.model });
  try {
    const format = formatOf(engine.info.promptFormat);
    const untrained = await scoreEngine(engine, inDomain, outOfDomain, settings.prompt);
    const untrainedTyping = await typeThroughServer(options.model, null, inDomain.slice(0, settings.typing), settings, work);
    log(`untrained: in domain ES ${pct(untrained.inDomain.editSimilarity)}, out of domain ES ${pct(untrained.outOfDomain.editSimilarity)}, chars saved ${pct(saved(untrainedTyping))}`);
    for (const seed of settings.seeds) {
      // The same prompts, in the same order, for every arm and noise of this seed.
      const pool = shuffled(trainEpisodes, seededRandom(seed + 1)).slice(0, settings.steps * settings.promptsPerStep);
      const shown = await shownAnswers(engine, format, pool, settings.prompt);
      for (const noise of settings.noises) {
        const episodes = noisyEpisodes(pool, noise, seed);
        const flips = seededRandom(seed * 31 + 3);
        const prompts: RunPrompt[] = episodes.map((episode, i) => {
          const s = shown[i];
          // The verdict is the user's on the true edit; a flip records it the wrong way round.
          return s ? { episode, shown: { rewritten: s.rewritten, bonus: shownBonus(s.accepted, noise.kind === 'flips' ? noise.level : 0, flips) } } : { episode };
        });
        for (const arm of ARMS) {
          if (TAU_ARMS.has(arm.name) && !settings.tauNoises.some((n) => noiseName(n) === noiseName(noise))) continue;
          const record = arm.estimator
            ? await trainArm(engine, arm, prompts, noise, seed, settings, inDomain, outOfDomain, options.model, work)
            : { arm: arm.name, noise: noiseName(noise), seed, ...untrained, typing: untrainedTyping, curve: settings.curveSteps.map((step) => ({ step, exactMatch: untrained.inDomain.exactMatch, editSimilarity: untrained.inDomain.editSimilarity })), clipFraction: 0, qFarFromMean: 0, tokensPerSecond: 0, rolloutSeconds: 0, updateSeconds: 0, seconds: 0, groups: [] };
          results.runs.push(record);
          log(`seed ${seed}, ${noiseName(noise)}, ${arm.name}: in domain EM ${pct(record.inDomain.exactMatch)} ES ${pct(record.inDomain.editSimilarity)}; out of domain EM ${pct(record.outOfDomain.exactMatch)} ES ${pct(record.outOfDomain.editSimilarity)}; chars saved ${pct(saved(record.typing))}; clipped ${(100 * record.clipFraction).toFixed(2)}%; Q ≠ mean in ${pct(record.qFarFromMean)} of groups (${record.seconds.toFixed(0)} s: ${record.rolloutSeconds.toFixed(0)} s rollouts, ${record.updateSeconds.toFixed(0)} s updates)`);
        }
      }
      saveResults(options.out, results, started);
    }
  } finally {
    await engine.dispose();
  }

  // The user's gain: the repository's recent history replayed through the server, training
  // there (the eval gate decides), then its later commits typed.
  const history = trainEpisodes.slice(-settings.gain.history);
  const later = inDomain.slice(0, settings.gain.typing);
  if (later.length) {
    const before = await typeThroughServer(options.model, null, later, settings, work);
    results.gain.push({ arm: 'none', seed: 0, before: null, after: before, status: 'none', live: null, candidate: null });
    for (const seed of settings.gain.seeds) {
      for (const estimator of ['gapo', 'grpo'] as const) {
        const record = await userGain(options.model, estimator, seed, history, later, settings, work);
        results.gain.push({ ...record, before });
        log(`user's gain, ${estimator}, seed ${seed}: ${record.status}; chars saved ${pct(saved(before))} → ${pct(saved(record.after))}`);
      }
    }
  }
  saveResults(options.out, results, started);
  writeReport(options.out, results);
  log(`report written to ${options.out}`);
  return results;
}

function saveResults(out: string, results: Results, started: number): void {
  results.minutes = (performance.now() - started) / 60_000;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 1) + '\n');
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * What the untrained model showed for each training prompt (its greedy answer at the
 * episode's cursor, as serving answers) and whether the simulated user would accept it; null
 * where it showed nothing.
 */
async function shownAnswers(engine: Engine, format: ReturnType<typeof formatOf>, episodes: Episode[], limits: PromptLimits): Promise<({ rewritten: string; accepted: boolean } | null)[]> {
  engine.setAdapter(null);
  const answers = [];
  for (const episode of episodes) {
    const [generation] = await engine.generate(format.prompt(trimContext(episode, limits)), { maxTokens: EVAL_MAX_TOKENS, temperature: 0, stop: format.stop, minProbability: format.defaultMinProbability });
    const rewritten = format.usable(generation.finishReason) ? format.rewrite(episode, generation.text) : episode.region;
    answers.push(rewritten === episode.region ? null : { rewritten, accepted: helps(episode.region, rewritten, episode.target) });
  }
  return answers;
}

async function scoreEngine(engine: Engine, inDomain: Episode[], outOfDomain: Episode[], limits: PromptLimits): Promise<{ inDomain: Score; outOfDomain: Score }> {
  const score = async (episodes: Episode[]): Promise<Score> => {
    if (!episodes.length) return { n: 0, exactMatch: 0, editSimilarity: 0, baselineEditSimilarity: 0 };
    const r = await evaluateEpisodes(engine, episodes, EVAL_MAX_TOKENS, undefined, limits);
    return { n: r.n, exactMatch: r.exact_match, editSimilarity: r.edit_similarity, baselineEditSimilarity: r.baseline.edit_similarity };
  };
  return { inDomain: await score(inDomain), outOfDomain: await score(outOfDomain) };
}

async function trainArm(
  engine: Engine,
  arm: Arm,
  prompts: RunPrompt[],
  noise: Noise,
  seed: number,
  settings: Settings,
  inDomain: Episode[],
  outOfDomain: Episode[],
  modelDir: string,
  work: string,
): Promise<RunRecord> {
  const start = performance.now();
  engine.setAdapter(null);
  const adapter = LoraAdapter.create(engine.config, { rank: settings.rank, alpha: settings.alpha, seed });
  const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, {
    optimizer: { ...defaultAdamW, learningRate: settings.learningRate },
    epochs: settings.epochs,
    microBatchSize: 8,
    loss: { clipLow: 0.2, clipHigh: 0.28, dualClip: 10, aggregation: 'token-mean', klCoef: 0 },
  });
  const curve: RunRecord['curve'] = [];
  const curvePoint = async (step: number) => {
    if (!settings.curveSteps.includes(step) || !inDomain.length) return;
    const r = await evaluateEpisodes(engine, inDomain, EVAL_MAX_TOKENS, undefined, settings.prompt);
    curve.push({ step, exactMatch: r.exact_match, editSimilarity: r.edit_similarity });
  };
  await curvePoint(0);
  const groups: GroupSummary[] = [];
  let clipped = 0;
  let tokens = 0;
  let rolloutSeconds = 0;
  let updateSeconds = 0;
  const run = gapoRun(engine, trainer, prompts, {
    steps: settings.steps,
    promptsPerStep: settings.promptsPerStep,
    group: settings.group,
    estimator: arm.estimator!,
    tau: arm.tau,
    maxTokens: settings.maxTokens,
    temperature: 1,
    seed,
    reward: noisyReward(editAndExactMatch, noise, seed),
    prompt: settings.prompt,
  });
  for await (const step of run) {
    groups.push(...step.groups);
    clipped += (step.clipLow ?? 0) + (step.clipHigh ?? 0);
    tokens += step.tokens;
    rolloutSeconds += step.rolloutS;
    updateSeconds += step.updateS;
    engine.setAdapter(trainer.adapter);
    await curvePoint(step.step);
  }
  engine.setAdapter(trainer.adapter);
  const scores = await scoreEngine(engine, inDomain, outOfDomain, settings.prompt);
  const adapterDir = join(work, `adapter-${arm.estimator}-${arm.tau}-${noiseName(noise).replace(' ', '-')}-${seed}`);
  trainer.adapter.save(adapterDir, modelDir);
  const typing = await typeThroughServer(modelDir, adapterDir, inDomain.slice(0, settings.typing), settings, work);
  engine.setAdapter(null);
  return {
    arm: arm.name,
    noise: noiseName(noise),
    seed,
    ...scores,
    typing,
    curve,
    clipFraction: clipped / settings.steps,
    qFarFromMean: groups.filter((g) => Math.abs(g.q - g.mean) > 0.1).length / Math.max(1, groups.length),
    tokensPerSecond: tokens / Math.max(1e-9, rolloutSeconds + updateSeconds),
    rolloutSeconds,
    updateSeconds,
    seconds: (performance.now() - start) / 1000,
    groups: groups.slice(0, 8),
  };
}

async function startServer(modelDir: string, work: string, prompt: PromptLimits, initializationOptions: InitializationOptions): Promise<LspSession> {
  const session = await LspSession.start({
    cliPath,
    dataDir: mkdtempSync(join(work, 'data-')),
    modelDir,
    initializationOptions: { capture: { settleMs: 60_000 }, prompt, ...initializationOptions },
    log: (line) => {
      if (/error|failed|corrupt|cannot/i.test(line)) console.error(`server: ${line}`);
    },
  });
  await session.waitForModel(10 * 60_000);
  return session;
}

/** The characters a simulated user saves typing `episodes` through a server on the model (and adapter). */
async function typeThroughServer(modelDir: string, adapterDir: string | null, episodes: Episode[], settings: Settings, work: string): Promise<TypingStats> {
  const session = await startServer(modelDir, work, settings.prompt, { training: { background: false }, ...(adapterDir ? { adapterDir } : {}) });
  try {
    return await replayTyping(session, episodes, { root: mkdtempSync(join(work, 'files-')) });
  } finally {
    await session.stop();
  }
}

async function userGain(modelDir: string, estimator: EstimatorName, seed: number, history: Episode[], later: Episode[], settings: Settings, work: string): Promise<Omit<GainRecord, 'before'>> {
  const session = await startServer(modelDir, work, settings.prompt, { training: { background: false, steps: settings.gain.steps, group: settings.group, estimator, seed, learningRate: settings.learningRate } });
  try {
    const root = mkdtempSync(join(work, 'files-'));
    await replayEpisodes(session, history, { noise: 0, seed, typingChunk: 4, root });
    const run = await session.request(TrainNowRequest);
    const after = await replayTyping(session, later, { root });
    return { arm: estimator, seed, after, status: run.status, live: run.live, candidate: run.candidate };
  } finally {
    await session.stop();
  }
}

/** Reads a report's results back (the CI check parses what the benchmark wrote). */
export function readResults(out: string): Results {
  return JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
}
