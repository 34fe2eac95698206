// What the language server holds while it runs: its options, store, captures of open
// documents, the model (in its worker) and the learner. Handlers in documents.ts,
// suggestions.ts and requests.ts share this one object; server.ts wires them to LSP.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connection, WorkDoneProgressServerReporter } from 'vscode-languageserver/node';
import { type CaptureSink, DocumentCapture } from '../capture/document-capture';
import { PrivacyFilter } from '../capture/privacy';
import { SurvivalChecks } from '../capture/survival';
import type { PromptContext } from '../edits/episode';
import { fragmentProbes, SecretLedger } from '../edits/redaction';
import { Learner } from '../gapo/learner';
import { SuggestionsFirst } from '../suggest/suggestions-first';
import { readModelConfig } from '../model/config';
import { EngineClient } from '../model/engine-client';
import { adapterMismatch } from '../model/lora';
import { EpisodeCapturedNotification, OutcomeNotification, type ServerStatus, StatusNotification } from '../protocol';
import { Store } from '../store/store';
import { type NeighbourFiles, neighbourFilesFor } from '../capture/neighbours';
import { version } from '../version';
import type { ServerOptions } from './options';

/** How many of the latest suggestions with a known fate the acceptance rate is measured on. */
const RECENT_SUGGESTIONS = 50;

export class ServerState {
  readonly captures = new Map<string, DocumentCapture>();
  /** Secrets seen in documents, in memory only: every write is scrubbed of their fragments. */
  readonly secrets = new SecretLedger();
  readonly suggestionsFirst = new SuggestionsFirst();
  /** Other files' latest redacted text, in memory only, for prompts' snippets (none kept when prompts carry none). */
  readonly neighbours: NeighbourFiles;
  readonly privacy: PrivacyFilter;
  readonly survival: SurvivalChecks;
  engine: EngineClient | null = null;
  learner: Learner | null = null;
  model: { state: ServerStatus['modelState']; error: string | null } = { state: 'none', error: null };
  trainingProgress: WorkDoneProgressServerReporter | null = null;
  /** The running training run's last reported progress. */
  private training: { percentage: number; message: string } | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private pausedNow: boolean;

  /** What capture hands over for storage: scrubbed of known secrets' fragments, then announced. */
  readonly sink: CaptureSink = {
    edit: (capture, diff) => {
      if (!this.paused) this.store.addEdit(Date.now(), capture.uri, capture.path, this.secrets.scrub(diff));
    },
    episode: (capture, episode, suggestionId) => {
      if (this.paused) return;
      this.store.addEpisode({ ...this.scrubPrompt(episode), target: this.secrets.scrub(episode.target), time: Date.now(), uri: capture.uri, suggestionId });
      // Sent after the commit: an acknowledged episode survives a killed server.
      void this.connection.sendNotification(EpisodeCapturedNotification, { id: episode.id, path: capture.path, suggestionId });
      this.statusChanged();
    },
    secrets: (found) => {
      const fresh = this.secrets.add(found);
      if (fresh.length === 0) return;
      const rows = this.store.scrub((text) => this.secrets.scrub(text), fragmentProbes(fresh));
      if (rows > 0) this.log(`removed fragments of ${fresh.length === 1 ? 'a secret' : `${fresh.length} secrets`} from ${rows} stored rows`);
    },
    outcome: (suggestionId, kind, afterS, share) => {
      // Dropped when the store is closed, or the suggestion was forgotten meanwhile.
      if (!this.store.db.isOpen || !this.store.addOutcome(suggestionId, kind, Date.now(), afterS ?? null, share ?? null)) return;
      void this.connection.sendNotification(OutcomeNotification, { suggestionId, kind, afterS: afterS ?? null, share: share ?? null });
      this.statusChanged();
    },
  };

  constructor(
    readonly connection: Connection,
    readonly options: ServerOptions,
    readonly store: Store,
  ) {
    this.pausedNow = store.learningPaused();
    this.neighbours = neighbourFilesFor(options.prompt);
    // The server's own data folder (exports default there) is never captured as the user's editing.
    this.privacy = new PrivacyFilter({ exclude: options.capture.exclude, maxFileBytes: options.capture.maxFileBytes, excludeFolders: [options.dataDir, ...(options.capture.excludeFolders ?? [])] });
    this.survival = new SurvivalChecks(
      {
        // A suggestion accepted while learning was paused was never stored: nothing to follow.
        addChecks: (checks) => {
          if (!this.paused) store.addSurvivalChecks(checks);
        },
        moveSpan: (id, span) => store.moveSurvivalSpan(id, span),
        record: (id, afterS, share) => this.sink.outcome(id, 'survival', afterS, share),
        drop: (id, afterS) => store.dropSurvivalCheck(id, afterS),
      },
      (uri) => this.captures.get(uri)?.text ?? null,
    );
    // Checks a killed or restarted server had not run yet.
    this.survival.resume(store.pendingSurvivalChecks());
  }

  log(message: string): void {
    this.connection.console.log(message);
  }

  /** Paused by the user: nothing is collected or trained (suggestions go on). Kept in the store. */
  get paused(): boolean {
    return this.pausedNow;
  }

  setPaused(paused: boolean): void {
    this.store.setLearningPaused(paused);
    this.pausedNow = paused;
    if (paused) for (const capture of this.captures.values()) capture.discard();
    this.log(paused ? 'learning paused: nothing is collected or trained until it is resumed' : 'learning resumed');
    this.statusChanged();
  }

  /** Tells the client the status changed; changes within 200 ms make one notification. */
  statusChanged(): void {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      if (this.store.db.isOpen) void this.connection.sendNotification(StatusNotification, this.status()).catch(() => {});
    }, 200);
    this.statusTimer.unref();
  }

  /** Starts capturing a document; the history of the file's earlier edits comes from the store. */
  capture(uri: string, path: string, languageId: string, text: string, documentVersion: number): void {
    this.captures.get(uri)?.dispose();
    const history = this.store.recentEdits(path, this.options.capture.historyLimit);
    const capture = new DocumentCapture(uri, path, languageId, text, documentVersion, this.options.capture, this.sink, this.survival, history);
    this.captures.set(uri, capture);
    this.neighbours.remember(path, () => capture.redactedText());
  }

  /** Loads the model in its worker; once it is ready, suggestions and the learner start. */
  startModel(modelDir: string): void {
    this.model = { state: 'loading', error: null };
    const { store, options } = this;
    let live = store.adapter(store.liveAdapterVersion());
    if (live?.path && !existsSync(join(live.path, 'adapter_model.safetensors'))) {
      // Somebody deleted the adapter's files: serve the base model rather than nothing.
      this.connection.console.warn(`adapter v${live.version}'s files are missing (${live.path}); serving the base model (v0) instead`);
      store.setLiveAdapterVersion(0);
      live = store.adapter(0);
    }
    // The user chose another model: an adapter trained on the last one does not serve it.
    const foreign = live?.path && !options.adapterDir ? foreignAdapter(live.path, modelDir) : null;
    if (live && foreign) {
      this.connection.console.warn(`adapter v${live.version} does not fit ${modelDir} (${foreign}); serving the base model (v0), and new adapters are trained on this model`);
      store.setLiveAdapterVersion(0);
      live = store.adapter(0);
    }
    const log = (message: string) => this.log(message);
    this.statusChanged();
    EngineClient.start({ modelDir, cacheDir: options.cacheDir, adapterDir: options.adapterDir ?? live?.path ?? undefined, promptFormat: options.promptFormat ?? undefined, dtype: options.dtype, workerPath: join(__dirname, 'engine-worker.js'), log }).then(
      (client) => {
        this.engine = client;
        this.model = { state: 'ready', error: null };
        this.learner = new Learner({
          store,
          dataDir: options.dataDir,
          modelDir,
          cacheDir: options.cacheDir,
          prompt: options.prompt,
          serving: {
            promptFormat: options.promptFormat ?? undefined,
            minProbability: options.suggest.minProbability,
            dtype: options.dtype,
            maxTokens: options.suggest.maxTokens,
            regionLines: options.capture.regionLines,
          },
          settings: { ...options.training, minNewEpisodes: options.training.background ? options.training.minNewEpisodes : Infinity },
          suggestionsFirst: this.suggestionsFirst,
          workerPath: join(__dirname, 'training-worker.js'),
          paused: () => this.paused,
          mismatch: (adapterDir) => foreignAdapter(adapterDir, modelDir),
          log,
          progress: (message, percentage, running) => {
            this.training = running ? { percentage: Math.round(percentage), message } : null;
            this.trainingProgress?.report(Math.round(percentage), message);
            this.statusChanged();
          },
          deploy: async (_version, dir) => {
            await this.engine?.setAdapter(dir);
            this.statusChanged();
          },
        });
        this.statusChanged();
      },
      (error: Error) => {
        this.model = { state: 'failed', error: error.message };
        this.connection.console.error(`the model could not be loaded, suggestions and training are off: ${error.message}`);
        this.statusChanged();
      },
    );
  }

  status(): ServerStatus {
    const { store, learner } = this;
    const counts = store.counts();
    return {
      version,
      dataDir: this.options.dataDir,
      model: this.options.modelDir,
      modelState: this.model.state,
      modelError: this.model.error,
      adapterVersion: store.liveAdapterVersion(),
      openDocuments: this.captures.size,
      episodes: { total: counts.episodes, untrained: store.countEpisodesSince(store.lastEpisodeTimeTrained()), fromSuggestions: counts.episodesFromSuggestions },
      suggestions: {
        shown: counts.suggestions,
        accepted: counts.accepted,
        typedOver: counts.typedOver,
        ignored: counts.ignored,
        recentAcceptance: store.recentAcceptance(RECENT_SUGGESTIONS),
        enabled: this.options.suggest.enabled,
      },
      learning: this.paused ? 'paused' : 'on',
      training: {
        state: learner ? learner.state : 'unavailable',
        runId: learner?.runningRunId ?? null,
        percentage: learner?.runningRunId ? (this.training?.percentage ?? 0) : null,
        message: learner?.runningRunId ? (this.training?.message ?? 'starting') : null,
        lastRun: store.runs(1)[0] ?? null,
      },
    };
  }

  /** Deletes what was collected, of one file or all: in memory first, so nothing of it is written again. */
  forget(path?: string): { episodes: number; suggestions: number; edits: number } {
    for (const capture of this.captures.values()) if (path === undefined || capture.path === path) capture.discard();
    this.neighbours.forget(path);
    this.survival.forget((uri) => path === undefined || filePath(uri) === path);
    const deleted = this.store.forget(path);
    this.statusChanged();
    this.log(`forgot ${deleted.episodes} episodes, ${deleted.suggestions} suggestions and ${deleted.edits} edits${path ? ` of ${path}` : ''}`);
    return deleted;
  }

  async shutdown(): Promise<void> {
    for (const capture of this.captures.values()) capture.settle();
    this.survival.dispose();
    await this.learner?.stop();
    await this.engine?.dispose();
    this.store.close();
  }

  /**
   * Prompt fields (already cut from redacted text) scrubbed of fragments of secrets that were
   * completed since, with the cursor moved to match.
   */
  scrubPrompt<T extends PromptContext>(e: T): T {
    const { secrets } = this;
    if (secrets.size === 0) return e;
    const region = secrets.scrub(e.region);
    const cursor = Math.min(secrets.scrub(e.region.slice(0, e.cursor)).length, region.length);
    return { ...e, history: e.history.map((h) => secrets.scrub(h)), prefix: secrets.scrub(e.prefix), region, suffix: secrets.scrub(e.suffix), cursor };
  }
}

/** Why an adapter does not fit a model folder (null: it fits; a model that cannot be read is the engine's to report). */
export function foreignAdapter(adapterDir: string, modelDir: string): string | null {
  let config;
  try {
    config = readModelConfig(modelDir);
  } catch {
    return null;
  }
  return adapterMismatch(adapterDir, modelDir, config);
}

/** The path of a file: URI, or null for any other (or a malformed one). */
export function filePath(uri: string): string | null {
  try {
    return uri.startsWith('file:') ? fileURLToPath(uri) : null;
  } catch {
    return null;
  }
}
