// When and how the language server learns: background runs once enough new episodes exist
// and the user is idle, or at once on "Train Now"; each run in a training worker; the eval
// gate (the held-out, most recent episodes typed with the candidate and with the live adapter:
// it goes live only if it saves more characters beyond the noise, gapo/gate.ts); every
// adapter version kept, and rollback to any of them.

import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { judge } from './gate';
import type { Store, StoredEpisode } from '../store/store';
import type { AdapterEvaluation, HeldOutTyping, PromptLimits, RunResult, RunTrigger, TrainingSettings } from '../protocol';
import { outcomeBonus } from './reward';
import type { ServingChoices, TrainingJob, TrainingMessage } from './training-job';
import type { SuggestionsFirst } from '../suggest/suggestions-first';
import type { RunPrompt } from './gapo-run';

export interface LearnerHost {
  store: Store;
  dataDir: string;
  modelDir: string;
  cacheDir?: string;
  settings: TrainingSettings;
  prompt: PromptLimits;
  serving: ServingChoices;
  /** The server's gate: its training worker waits while suggestions are in flight. */
  suggestionsFirst: SuggestionsFirst;
  workerPath: string;
  /** The user paused learning: no background runs. */
  paused(): boolean;
  log(message: string): void;
  /** A run's progress (0-100); `running` is false once it has finished. */
  progress(message: string, percentage: number, running: boolean): void;
  /** Why an adapter does not fit the served model (null: it fits). */
  mismatch(adapterDir: string): string | null;
  /** Makes a version live in the serving engine (null: the base model). */
  deploy(version: number, adapterDir: string | null): Promise<void>;
}


export class TrainingError extends Error {}

/** A run recorded and ready for its worker. */
interface PlannedRun {
  runId: number;
  /** The candidate's version, and the live one it must beat. */
  version: number;
  liveVersion: number;
  /** Where the worker writes the candidate, and where it goes once judged. */
  outDir: string;
  finalDir: string;
  /** The held-out episodes as stored (their times mark what the run has seen). */
  heldOut: StoredEpisode[];
  job: TrainingJob;
}

export class Learner {
  private running: { runId: number; trigger: RunTrigger; worker: Worker; done: Promise<RunResult>; cancel: () => void } | null = null;
  /** History imports under way: no background run starts meanwhile (it would train on a part). */
  private imports = 0;
  private lastActivity = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly host: LearnerHost) {
    const interrupted = host.store.markInterruptedRuns();
    if (interrupted) host.log(`${interrupted} training run(s) were interrupted by a restart`);
    this.timer = setInterval(() => this.maybeTrainInBackground(), Math.min(5000, Math.max(100, host.settings.idleMs / 4)));
    this.timer.unref();
  }

  get state(): 'idle' | 'training' {
    return this.running ? 'training' : 'idle';
  }

  get runningRunId(): number | null {
    return this.running?.runId ?? null;
  }

  /** The user typed or asked for a suggestion: background training waits for a quiet spell. */
  noteActivity(): void {
    this.lastActivity = Date.now();
  }

  newEpisodes(): number {
    return this.host.store.countEpisodesSince(this.host.store.lastEpisodeTimeTrained());
  }

  private maybeTrainInBackground(): void {
    const s = this.host.settings;
    if (this.running || this.imports > 0 || this.host.paused() || Date.now() - this.lastActivity < s.idleMs) return;
    if (this.newEpisodes() < s.minNewEpisodes) return;
    this.train('background').catch((error) => this.host.log(`background training: ${(error as Error).message}`));
  }

  /**
   * Episodes are being imported (Learn from Repository History): no background run starts
   * until the returned call ends the hold, and a background run already going is cancelled, as
   * it trained on what was there before. A manual run goes on: the user asked for it.
   */
  holdForImport(): () => void {
    this.imports++;
    if (this.running?.trigger === 'background') {
      this.host.log(`training run ${this.running.runId} cancelled: episodes are being imported`);
      this.running.cancel();
    }
    let held = true;
    return () => {
      if (held) this.imports--;
      held = false;
    };
  }

  /** Starts a run (or returns the one already running). */
  train(trigger: Exclude<RunTrigger, 'import'>): Promise<RunResult> {
    if (this.running) return this.running.done;
    return this.run(trigger);
  }

  /**
   * Judges an adapter trained elsewhere (PEFT layout, e.g. verl-GAPO on the exported Parquet)
   * as a run's candidate: it becomes the next version, live only if the eval gate passes it.
   */
  importAdapter(dir: string): Promise<RunResult> {
    if (this.running) return Promise.reject(new TrainingError(`training run ${this.running.runId} is running: import when it is done`));
    return this.run('import', dir);
  }

  private run(trigger: RunTrigger, importedAdapterDir?: string): Promise<RunResult> {
    let run: PlannedRun;
    try {
      run = this.plan(trigger, importedAdapterDir);
    } catch (error) {
      return Promise.reject(error);
    }
    this.host.log(
      importedAdapterDir
        ? `run ${run.runId} (import): judging ${importedAdapterDir} against adapter v${run.liveVersion} on ${run.job.heldOut.length} held-out episodes`
        : `training run ${run.runId} (${trigger}): ${run.job.train.length} episodes, ${run.job.heldOut.length} held out, from adapter v${run.liveVersion}`,
    );
    const worker = new Worker(this.host.workerPath, { workerData: run.job });
    const { done, cancel } = this.follow(worker, run);
    this.running = { runId: run.runId, trigger, worker, done, cancel };
    this.host.progress('starting', 0, true);
    return done;
  }

  /** Splits the episodes (the most recent held out), numbers the candidate and records the run: what the worker is handed. */
  private plan(trigger: RunTrigger, importedAdapterDir: string | undefined): PlannedRun {
    const { store, settings } = this.host;
    const episodes = store.episodes();
    const heldOutCount = heldOutSize(episodes.length, settings);
    if (episodes.length < heldOutCount + 1) {
      const what = importedAdapterDir ? 'judge an adapter' : 'train';
      throw new TrainingError(`not enough episodes to ${what}: ${episodes.length} collected, ${heldOutCount + 1} needed (${heldOutCount} are held out for the eval gate)`);
    }
    const heldOut = episodes.slice(episodes.length - heldOutCount);
    // An imported adapter is only judged: nothing to train on.
    const train = importedAdapterDir ? [] : episodes.slice(0, episodes.length - heldOutCount).map((e) => this.trainingPrompt(e));
    const liveVersion = store.liveAdapterVersion();
    const version = store.nextAdapterVersion();
    const finalDir = join(this.host.dataDir, 'adapters', `v${version}`);
    const outDir = `${finalDir}.partial`;
    // Left by a run killed after writing its files but before recording them.
    for (const dir of [finalDir, outDir]) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    const runId = store.startRun(trigger, settings, train.length, heldOut.length);
    const job: TrainingJob = {
      modelDir: this.host.modelDir,
      cacheDir: this.host.cacheDir,
      liveAdapterDir: store.adapter(liveVersion)?.path ?? null,
      outDir,
      importedAdapterDir,
      train,
      heldOut,
      settings,
      prompt: this.host.prompt,
      serving: this.host.serving,
      suggestionsFirst: this.host.suggestionsFirst.buffer,
    };
    return { runId, version, liveVersion, outDir, finalDir, heldOut, job };
  }

  /**
   * Follows the worker to the run's end: steps stored, progress shown, the eval gate on its
   * answer. A failure, a crash, an exit or a cancel ends the run without a candidate.
   */
  private follow(worker: Worker, run: PlannedRun): { done: Promise<RunResult>; cancel: () => void } {
    const { store } = this.host;
    const { runId, outDir } = run;
    let cancel = () => {};
    const done = new Promise<RunResult>((resolve) => {
      let finished = false;
      const finish = (result: RunResult) => {
        if (finished) return;
        finished = true;
        this.running = null;
        void worker.terminate();
        this.host.progress(`training run ${runId}: ${result.status}`, 100, false);
        resolve(result);
      };
      const fail = (message: string, status: 'failed' | 'cancelled' = 'failed') => {
        if (finished) return;
        rmSync(outDir, { recursive: true, force: true });
        store.finishRun(runId, status, { error: message });
        this.host.log(`training run ${runId} ${status}: ${message}`);
        finish({ runId, status, adapterVersion: null, live: null, candidate: null, verdict: null, error: message });
      };
      worker.on('message', (message: TrainingMessage) => {
        try {
          if (message.type === 'log') this.host.log(message.message);
          else if (message.type === 'phase') this.host.progress(phaseMessage(message.phase, message.done, message.total), phasePercent(message.phase, message.done, message.total), true);
          else if (message.type === 'step') {
            const { step, groups, ...metrics } = message.summary;
            store.addStep(runId, step, metrics, groups);
          } else if (message.type === 'failed') fail(message.message);
          else if (message.type === 'done') finish(this.gate(run, message.live, message.candidate));
        } catch (error) {
          fail((error as Error).message);
        }
      });
      worker.on('error', (error) => fail(`the training worker crashed: ${error.message}`));
      worker.on('exit', (code) => fail(`the training worker exited (code ${code})`, 'cancelled'));
      cancel = () => fail('cancelled by the user', 'cancelled');
    });
    return { done, cancel };
  }

  /** Stops the running run (its candidate is dropped, the live adapter stays). Returns whether one ran. */
  cancel(): boolean {
    if (!this.running) return false;
    this.running.cancel();
    return true;
  }

  /** The eval gate: keep every candidate, make it live only if it types better beyond the noise (gapo/gate.ts). */
  private gate({ runId, version, liveVersion, outDir, finalDir, heldOut }: PlannedRun, live: HeldOutTyping, candidate: HeldOutTyping): RunResult {
    const { store } = this.host;
    renameSync(outDir, finalDir);
    const verdict = judge(live, candidate, `v${liveVersion}`);
    const evaluation: AdapterEvaluation = { liveVersion, live, candidate, verdict };
    store.addAdapter({ version, path: finalDir, parent: liveVersion, runId, eval: evaluation });
    store.setLastEpisodeTimeTrained(Math.max(...heldOut.map((e) => e.time)));
    const status = verdict.deploy ? 'deployed' : 'kept';
    if (verdict.deploy) {
      store.setLiveAdapterVersion(version);
      this.host.deploy(version, finalDir).catch((error) => this.host.log(`could not load adapter v${version}: ${(error as Error).message}`));
    }
    store.finishRun(runId, status, { adapterVersion: version, eval: evaluation });
    this.host.log(`training run ${runId}: adapter v${version} ${verdict.deploy ? 'is live' : 'kept, not live'}: ${verdict.reason}`);
    return { runId, status, adapterVersion: version, live, candidate, verdict, error: null };
  }

  /** Makes an earlier adapter version live again (0: the base model). */
  async rollback(version: number): Promise<void> {
    const adapter = this.host.store.adapter(version);
    if (!adapter) throw new TrainingError(`there is no adapter version ${version}`);
    if (adapter.path !== null && !existsSync(adapter.path)) throw new TrainingError(`adapter version ${version}'s files are missing (${adapter.path})`);
    const foreign = adapter.path === null ? null : this.host.mismatch(adapter.path);
    if (foreign) throw new TrainingError(`adapter version ${version} does not fit the model being served: ${foreign}`);
    await this.host.deploy(version, adapter.path);
    this.host.store.setLiveAdapterVersion(version);
    this.host.log(`adapter v${version} is live`);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.running) await this.running.worker.terminate();
  }

  private trainingPrompt(e: StoredEpisode): RunPrompt {
    const shown = e.suggestionId ? this.host.store.shownSuggestion(e.suggestionId) : null;
    return shown ? { episode: e, shown: { rewritten: shown.rewritten, bonus: outcomeBonus(shown.outcomes) } } : { episode: e };
  }
}

/** How many of the most recent episodes the eval gate holds out (and an export for verl marks as its test split). */
export function heldOutSize(episodes: number, settings: Pick<TrainingSettings, 'heldOutShare' | 'minHeldOut' | 'maxHeldOut'>): number {
  return Math.min(settings.maxHeldOut, Math.max(settings.minHeldOut, Math.round(episodes * settings.heldOutShare)));
}

/** What a run is doing, in the words the status item and the notification put after "training: ". */
export function phaseMessage(phase: string, done: number, total: number): string {
  if (phase === 'loading') return 'loading the model';
  if (phase === 'training') return `step ${done} of ${total}`;
  const what = phase === 'evaluating live' ? 'the live adapter' : 'the candidate';
  return `typing held-out episode ${done} of ${total} with ${what}`;
}

function phasePercent(phase: string, done: number, total: number): number {
  const share = total > 0 ? done / total : 0;
  if (phase === 'loading') return 0;
  // Typing the held-out episodes takes about as long as a short run's steps.
  if (phase === 'evaluating live') return 5 + 20 * share;
  if (phase === 'training') return 25 + 50 * share;
  return 75 + 25 * share;
}
