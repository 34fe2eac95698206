// The GAPO language server. Editors talk to it over plain LSP (stdio, IPC or a socket, as
// vscode-languageserver picks from the command line), so any LSP 3.18 client with inline
// completion gets the same assistant. It captures edits into episodes, serves suggestions
// from the model (in a worker thread), follows what happens to them, and trains in the
// background. Nothing it does touches the network.

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  type Connection,
  createConnection,
  ErrorCodes,
  InitializeError,
  InitializeParams,
  InitializeResult,
  InlineCompletionItem,
  LSPErrorCodes,
  ProposedFeatures,
  ResponseError,
  TextDocumentSaveReason,
  TextDocumentSyncKind,
  WorkDoneProgressServerReporter,
} from 'vscode-languageserver/node';
import { type CaptureSink, defaultCaptureOptions, DocumentCapture, type SuggestionContext } from './capture/document-capture';
import { defaultMaxFileBytes, PrivacyFilter } from './capture/privacy';
import { SurvivalChecks } from './capture/survival';
import { Learner, TrainingError } from './learn/learner';
import { defaultTrainingSettings, type TrainingSettings } from './learn/training-job';
import { EngineClient } from './model/engine-client';
import {
  ACCEPT_COMMAND,
  EpisodeCapturedNotification,
  ExportRequest,
  ForgetRequest,
  OutcomeNotification,
  RollbackRequest,
  type ServerStatus,
  StatsRequest,
  StatusRequest,
  TrainNowRequest,
} from './protocol';
import { exportEpisodes } from './store/export';
import { Store } from './store/store';
import { suggestionFor } from './suggest/edit-item';
import { version } from './version';
import type { PromptContext } from './edits/episode';
import { fragmentProbes, redactSecrets, SecretLedger } from './edits/redaction';
import { defaultPromptLimits, editPrompt, type PromptLimits, REGION_END, trimContext } from './edits/prompt';
import type { OutcomeKind } from './edits/suggestion';

export interface ServerOptions {
  dataDir: string;
  /** A model directory; null when none is given and none is bundled: capture only. */
  modelDir: string | null;
  cacheDir?: string;
  capture: typeof defaultCaptureOptions & { exclude: string[]; maxFileBytes: number; excludeFolders?: string[] };
  suggest: { enabled: boolean; maxTokens: number };
  prompt: PromptLimits;
  training: TrainingSettings & { background: boolean };
}

export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'gapo-assistant');
}

/** The model shipped with the extension, if this build carries one. */
export function bundledModelDir(): string | null {
  const dir = join(__dirname, '..', 'models', 'default');
  return existsSync(join(dir, 'config.json')) ? dir : null;
}

/** Options from the command line (`gapo serve`) and the client's initializationOptions. */
export function resolveOptions(cli: Partial<Pick<ServerOptions, 'dataDir' | 'modelDir' | 'cacheDir'>>, init: Record<string, any> = {}): ServerOptions {
  return {
    dataDir: resolve(cli.dataDir ?? init.dataDir ?? defaultDataDir()),
    modelDir: cli.modelDir ?? init.modelDir ?? bundledModelDir(),
    cacheDir: cli.cacheDir ?? init.cacheDir,
    capture: { ...defaultCaptureOptions, exclude: [], maxFileBytes: defaultMaxFileBytes, ...(init.capture ?? {}) },
    suggest: { enabled: true, maxTokens: 128, ...(init.suggest ?? {}) },
    prompt: { ...defaultPromptLimits, ...(init.prompt ?? {}) },
    training: { ...defaultTrainingSettings, background: true, ...(init.training ?? {}) },
  };
}

export function startServer(cli: Partial<Pick<ServerOptions, 'dataDir' | 'modelDir' | 'cacheDir'>> = {}, connection: Connection = createConnection(ProposedFeatures.all)): Connection {
  let options: ServerOptions;
  let store: Store;
  let privacy: PrivacyFilter;
  let survival: SurvivalChecks;
  // Secrets seen in documents, in memory only: every write is scrubbed of their fragments.
  const secrets = new SecretLedger();
  let learner: Learner | null = null;
  let engine: EngineClient | null = null;
  let modelState: ServerStatus['modelState'] = 'none';
  let modelError: string | null = null;
  const captures = new Map<string, DocumentCapture>();
  const busy = new SharedArrayBuffer(4);
  const inFlight = new Int32Array(busy);
  let latestRequest: AbortController | null = null;

  const log = (message: string) => connection.console.log(message);

  const sink: CaptureSink = {
    edit: (capture, diff) => store.addEdit(Date.now(), capture.uri, capture.path, secrets.scrub(diff)),
    episode: (capture, episode, suggestionId) => {
      store.addEpisode({ ...scrubPrompt(episode, secrets), target: secrets.scrub(episode.target), time: Date.now(), uri: capture.uri, suggestionId });
      // Sent after the commit: an acknowledged episode survives a killed server.
      void connection.sendNotification(EpisodeCapturedNotification, { id: episode.id, path: capture.path, suggestionId });
    },
    secrets: (found) => {
      const fresh = secrets.add(found);
      if (fresh.length === 0) return;
      const rows = store.scrub((text) => secrets.scrub(text), fragmentProbes(fresh));
      if (rows > 0) log(`removed fragments of ${fresh.length === 1 ? 'a secret' : `${fresh.length} secrets`} from ${rows} stored rows`);
    },
    outcome: (suggestionId: string, kind: OutcomeKind, afterS?: number, share?: number) => {
      // Dropped when the store is closed, or the suggestion was forgotten meanwhile.
      if (!store.db.open || !store.addOutcome(suggestionId, kind, Date.now(), afterS ?? null, share ?? null)) return;
      void connection.sendNotification(OutcomeNotification, { suggestionId, kind, afterS: afterS ?? null, share: share ?? null });
    },
  };

  connection.onInitialize((params: InitializeParams): InitializeResult | ResponseError<InitializeError> => {
    options = resolveOptions(cli, (params.initializationOptions ?? {}) as Record<string, any>);
    try {
      store = Store.open(join(options.dataDir, 'gapo.db'), (message) => connection.console.warn(message));
    } catch (error) {
      return new ResponseError(LSPErrorCodes.RequestFailed, `GAPO Assistant cannot open its data: ${(error as Error).message}`, { retry: false });
    }
    // The server's own data folder (exports default there) is never captured as the user's editing.
    privacy = new PrivacyFilter({ exclude: options.capture.exclude, maxFileBytes: options.capture.maxFileBytes, excludeFolders: [options.dataDir, ...(options.capture.excludeFolders ?? [])] });
    survival = new SurvivalChecks(
      {
        addChecks: (checks) => store.addSurvivalChecks(checks),
        moveSpan: (id, span) => store.moveSurvivalSpan(id, span),
        record: (id, afterS, share) => sink.outcome(id, 'survival', afterS, share),
        drop: (id, afterS) => store.dropSurvivalCheck(id, afterS),
      },
      (uri) => captures.get(uri)?.text ?? null,
    );
    // Checks a killed or restarted server had not run yet.
    survival.resume(store.pendingSurvivalChecks());
    if (options.modelDir) startModel(options.modelDir);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, willSave: true, save: { includeText: false } },
        inlineCompletionProvider: true,
        executeCommandProvider: { commands: [ACCEPT_COMMAND] },
      },
      serverInfo: { name: 'gapo-assistant', version },
    };
  });

  connection.onInitialized(() => {
    log(`GAPO Assistant ${version}: data in ${options.dataDir}; ${options.modelDir ? `model ${options.modelDir}` : 'no model (capture only: pass --model DIR)'}`);
  });

  function startModel(modelDir: string): void {
    modelState = 'loading';
    let live = store.adapter(store.liveAdapterVersion());
    if (live?.path && !existsSync(join(live.path, 'adapter_model.safetensors'))) {
      // Somebody deleted the adapter's files: serve the base model rather than nothing.
      connection.console.warn(`adapter v${live.version}'s files are missing (${live.path}); serving the base model (v0) instead`);
      store.setLiveAdapterVersion(0);
      live = store.adapter(0);
    }
    EngineClient.start({
      modelDir,
      cacheDir: options.cacheDir,
      adapterDir: live?.path ?? undefined,
      workerPath: join(__dirname, 'engine-worker.js'),
      log,
    }).then(
      (client) => {
        engine = client;
        modelState = 'ready';
        learner = new Learner({
          store,
          dataDir: options.dataDir,
          modelDir,
          cacheDir: options.cacheDir,
          prompt: options.prompt,
          settings: { ...options.training, minNewEpisodes: options.training.background ? options.training.minNewEpisodes : Infinity },
          busy,
          workerPath: join(__dirname, 'training-worker.js'),
          log,
          progress: (message, percentage) => trainingProgress?.report(Math.round(percentage), message),
          deploy: async (_version, dir) => engine?.setAdapter(dir),
        });
      },
      (error: Error) => {
        modelState = 'failed';
        modelError = error.message;
        connection.console.error(`the model could not be loaded, suggestions and training are off: ${error.message}`);
      },
    );
  }

  // --- documents -----------------------------------------------------------------------------

  connection.onDidOpenTextDocument(({ textDocument: { uri, languageId, version: v, text } }) => {
    const path = uri.startsWith('file:') ? safeFilePath(uri) : null;
    const reason = privacy.skipReason(uri, path, text);
    if (reason) {
      if (reason !== 'not a file') log(`not capturing ${path}: ${reason}`);
      return;
    }
    captures.get(uri)?.dispose();
    captures.set(uri, new DocumentCapture(uri, path!, languageId, text, v, options.capture, sink, survival, store.recentEdits(path!, options.capture.historyLimit)));
  });

  connection.onDidChangeTextDocument(({ textDocument: { uri, version: v }, contentChanges }) => {
    learner?.noteActivity();
    const capture = captures.get(uri);
    if (!capture) return;
    capture.applyChanges(contentChanges, v ?? capture.version + 1);
    // The limits hold on every change: a paste that makes the file huge or binary stops the
    // capture, and what was not yet stored goes unstored.
    const reason = privacy.contentReason(capture.text);
    if (reason) {
      capture.discard();
      captures.delete(uri);
      log(`not capturing ${capture.path} any more: ${reason}`);
    }
  });

  // Autosave after a delay (VS Code's web build does it after 1 s) fires while the user is still
  // typing: such a save settles nothing. Other saves settle the edits, but a suggestion still on
  // screen stays pending.
  const saveReasons = new Map<string, TextDocumentSaveReason>();
  connection.onWillSaveTextDocument(({ textDocument: { uri }, reason }) => void saveReasons.set(uri, reason));
  connection.onDidSaveTextDocument(({ textDocument: { uri } }) => {
    const reason = saveReasons.get(uri);
    saveReasons.delete(uri);
    if (reason !== TextDocumentSaveReason.AfterDelay) captures.get(uri)?.settle(true);
  });

  connection.onDidCloseTextDocument(({ textDocument: { uri } }) => {
    captures.get(uri)?.close();
    captures.delete(uri);
  });

  // --- suggestions ---------------------------------------------------------------------------

  connection.languages.inlineCompletion.on(async ({ textDocument: { uri }, position }, token): Promise<InlineCompletionItem[] | null> => {
    learner?.noteActivity();
    const capture = captures.get(uri);
    if (!capture) return null;
    capture.cursorAt(position.line, position.character);
    if (!engine || !options.suggest.enabled) return null;
    const context = capture.contextAt(position.line, position.character);
    // The model sees redacted text; a rewrite of a region holding a secret could not be applied.
    if (context.regionHoldsSecret) return null;
    // A newer keystroke's request replaces the older one and frees the worker for itself.
    latestRequest?.abort();
    const controller = new AbortController();
    latestRequest = controller;
    token.onCancellationRequested(() => controller.abort());
    Atomics.add(inFlight, 0, 1);
    try {
      const started = performance.now();
      const documentVersion = capture.version;
      const [generation] = await engine.generate(editPrompt(trimContext(context, options.prompt)), { maxTokens: options.suggest.maxTokens, temperature: 0, stop: [REGION_END] }, controller.signal);
      if (token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      // The policy stays quiet when the document moved on, or its rewrite shows nothing.
      if (controller.signal.aborted || capture.version !== documentVersion || captures.get(uri) !== capture) return null;
      const suggestion = suggestionFor(context, generation);
      if (!suggestion) return null;
      const { item, rewritten } = suggestion;
      const id = randomUUID();
      store.addSuggestion({
        id,
        time: Date.now(),
        uri,
        path: capture.path,
        context: scrubPrompt(promptOf(context), secrets),
        rewritten: secrets.scrub(redactSecrets(rewritten, capture.path)),
        insertText: secrets.scrub(redactSecrets(item.insertText, capture.path)),
        adapterVersion: store.liveAdapterVersion(),
        latencyMs: performance.now() - started,
      });
      capture.track(id, context, rewritten, item);
      return [
        {
          insertText: item.insertText,
          range: { start: capture.positionAt(item.start), end: capture.positionAt(item.end) },
          command: { title: 'Accept GAPO suggestion', command: ACCEPT_COMMAND, arguments: [id] },
        },
      ];
    } catch (error) {
      if (token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      if ((error as Error).name !== 'CancelledError') connection.console.error(`suggestion failed: ${(error as Error).message}`);
      return null;
    } finally {
      Atomics.sub(inFlight, 0, 1);
      Atomics.notify(inFlight, 0);
      if (latestRequest === controller) latestRequest = null;
    }
  });

  connection.onExecuteCommand(({ command, arguments: args }) => {
    if (command !== ACCEPT_COMMAND) throw new ResponseError(ErrorCodes.InvalidParams, `unknown command ${command}`);
    const id = args?.[0];
    if (typeof id !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ACCEPT_COMMAND} takes a suggestion id`);
    const capture = [...captures.values()].find((c) => c.hasSuggestion(id));
    return { accepted: capture ? capture.accept(id) : false };
  });

  // --- custom requests -----------------------------------------------------------------------

  connection.onRequest(StatusRequest, (): ServerStatus => {
    const counts = store.counts();
    const lastRun = store.runs(1)[0] ?? null;
    return {
      version,
      dataDir: options.dataDir,
      model: options.modelDir,
      modelState,
      modelError,
      adapterVersion: store.liveAdapterVersion(),
      openDocuments: captures.size,
      episodes: {
        total: counts.episodes,
        untrained: store.countEpisodesSince(store.lastEpisodeTimeTrained()),
        fromSuggestions: counts.episodesFromSuggestions,
      },
      suggestions: { shown: counts.suggestions, accepted: counts.accepted, typedOver: counts.typedOver, ignored: counts.ignored },
      training: { state: learner ? learner.state : 'unavailable', runId: learner?.runningRunId ?? null, lastRun },
    };
  });

  connection.onRequest(StatsRequest, (params) => {
    const runs = store.runs(50);
    const runId = params?.runId ?? runs[0]?.id;
    return { runs, steps: runId === undefined ? [] : store.steps(runId), adapters: store.adapters(), liveAdapter: store.liveAdapterVersion() };
  });

  let trainingProgress: WorkDoneProgressServerReporter | null = null;
  connection.onRequest(TrainNowRequest, async () => {
    if (!learner) throw new ResponseError(LSPErrorCodes.RequestFailed, modelState === 'loading' ? 'the model is still loading' : 'no model is loaded, so there is nothing to train');
    trainingProgress ??= await connection.window.createWorkDoneProgress().catch(() => null);
    trainingProgress?.begin('GAPO: training', 0, 'starting', false);
    try {
      return await learner.train('manual');
    } catch (error) {
      if (error instanceof TrainingError) throw new ResponseError(LSPErrorCodes.RequestFailed, error.message);
      throw error;
    } finally {
      trainingProgress?.done();
      trainingProgress = null;
    }
  });

  connection.onRequest(RollbackRequest, async (params) => {
    if (!learner) throw new ResponseError(LSPErrorCodes.RequestFailed, 'no model is loaded');
    if (!Number.isInteger(params?.version)) throw new ResponseError(ErrorCodes.InvalidParams, `${RollbackRequest.method} takes { version: number }`);
    try {
      await learner.rollback(params.version);
    } catch (error) {
      throw new ResponseError(LSPErrorCodes.RequestFailed, (error as Error).message);
    }
    return { adapterVersion: store.liveAdapterVersion() };
  });

  connection.onRequest(ExportRequest, (params) => {
    const format = params?.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'verl') throw new ResponseError(ErrorCodes.InvalidParams, 'format must be jsonl or verl');
    if (typeof params?.out !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ExportRequest.method} takes { format, out: PATH }`);
    const episodes = store.episodes();
    // An export opened in the editor is not the user's editing.
    privacy.excludeFolder(resolve(params.out));
    exportEpisodes(episodes, format, resolve(params.out));
    return { out: resolve(params.out), episodes: episodes.length };
  });

  connection.onRequest(ForgetRequest, (params) => {
    const path = params?.uri ? safeFilePath(params.uri) ?? params.uri : params?.path;
    // In-memory history and survival checks go first: nothing of it may be written again.
    for (const capture of captures.values()) if (path === undefined || capture.path === path) capture.discard();
    survival.forget((uri) => path === undefined || safeFilePath(uri) === path);
    const deleted = store.forget(path);
    log(`forgot ${deleted.episodes} episodes, ${deleted.suggestions} suggestions and ${deleted.edits} edits${path ? ` of ${path}` : ''}`);
    return deleted;
  });

  connection.onShutdown(async () => {
    for (const capture of captures.values()) capture.settle();
    survival?.dispose();
    await learner?.stop();
    await engine?.dispose();
    store?.close();
  });

  connection.onExit(() => {
    for (const capture of captures.values()) capture.dispose();
  });

  // A request must never take the server down: log what escaped and keep serving.
  process.on('uncaughtException', (error) => connection.console.error(`uncaught: ${error.stack ?? error}`));
  process.on('unhandledRejection', (reason) => connection.console.error(`unhandled rejection: ${String(reason)}`));

  connection.listen();
  return connection;
}

function safeFilePath(uri: string): string | null {
  try {
    return fileURLToPath(uri);
  } catch {
    return null;
  }
}

/**
 * Prompt fields (already cut from redacted text) scrubbed of fragments of secrets that were
 * completed since, with the cursor moved to match.
 */
function scrubPrompt<T extends PromptContext>(e: T, secrets: SecretLedger): T {
  if (secrets.size === 0) return e;
  const region = secrets.scrub(e.region);
  const cursor = Math.min(secrets.scrub(e.region.slice(0, e.cursor)).length, region.length);
  return { ...e, history: e.history.map((h) => secrets.scrub(h)), prefix: secrets.scrub(e.prefix), region, suffix: secrets.scrub(e.suffix), cursor };
}

function promptOf({ regionStart: _start, regionEnd: _end, regionHoldsSecret: _secret, ...prompt }: SuggestionContext): PromptContext {
  return prompt;
}
