// The language server's own requests and notifications beside plain LSP, each declared once
// with its parameter and result types (as rust-analyzer's lsp_ext.ts does). The server, the
// VS Code extension (bundled from here), the LSP client session and the tests all use these:
// no `gapo/...` method name is written anywhere else.

import { NotificationType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

// The vocabulary the wire shares with the server: a suggestion's fate, the settings a client
// may send at initialize. Their defaults live with the code that uses them (named beside each).

/** Where a shown suggestion stands: still on screen, or what the user did with it. */
export type SuggestionState = 'pending' | 'accepted' | 'typed_over' | 'ignored';

/** A stored outcome: the verdict, or a survival check of accepted text. */
export type OutcomeKind = Exclude<SuggestionState, 'pending'> | 'survival';

/** The advantage estimators (gapo/advantages.ts registers one function for each). */
export type EstimatorName = 'gapo' | 'grpo' | 'drgrpo';

/** How the served model's weights are held (model/quantize.ts); training always uses f32. */
export type WeightDType = 'f32' | 'q8' | 'q4';

/** How much context a prompt carries (defaults: defaultPromptLimits, edits/prompt.ts). */
export interface PromptLimits {
  /** Lines of code kept before and after the editable region. */
  contextLines: number;
  /** Most recent edits (unified diffs) kept. */
  historyDiffs: number;
  /** Chunks of other open or recently edited files carried ahead of the file (fill-in-the-middle formats); none: 0. */
  snippets?: number;
}

/** How edits become episodes (defaults: defaultCaptureOptions, capture/document-capture.ts). */
export interface CaptureOptions {
  /** A burst of edits becomes episodes after this long without a change (or on save/close). */
  settleMs: number;
  /** Changes closer together than this are one edit in the history. */
  mergeMs: number;
  /** Edits kept per file. */
  historyLimit: number;
  /** Seconds after an accept at which the accepted text's survival is measured. */
  survivalChecksS: number[];
  /** A suggestion request this many lines away from the unsettled edits settles them. */
  cursorLeaveLines: number;
  /** Lines each side of the cursor line in a suggestion's editable region. */
  regionLines: number;
  /** A suggestion resolved as ignored or typed over is still accepted this long after (the accept came late). */
  lateAcceptMs: number;
}

/** Which files are never captured (capture/privacy.ts; the user's gapo.capture.* settings). */
export interface PrivacyOptions {
  /** Globs matched against the file's path; added to the defaults. */
  exclude: string[];
  maxFileBytes: number;
  /** Folders whose files are never captured: the server's own data, exports, temp files. */
  excludeFolders?: string[];
}

/** Capture's options and which files it keeps out. */
export interface CaptureSettings extends CaptureOptions, PrivacyOptions {}

/** Whether and how suggestions are served (defaults: defaultSuggestOptions, lsp/options.ts). */
export interface SuggestSettings {
  enabled: boolean;
  maxTokens: number;
  /** The confidence gate; null: the model's prompt format's own. */
  minProbability: number | null;
}

/** A GAPO run's settings (defaults: defaultGapoSettings, gapo/gapo-settings.ts). */
export interface GapoSettings {
  /** GAPO steps per run. */
  steps: number;
  /** Prompts (episodes) per step. */
  promptsPerStep: number;
  /** Rollouts per prompt (G). */
  group: number;
  estimator: EstimatorName;
  /** GAPO's τ: the share of a group its highest-density interval holds. */
  tau: number;
  learningRate: number;
  /** LoRA rank and alpha of a new adapter. */
  rank: number;
  alpha: number;
  /** The longest rollout, in tokens. */
  maxTokens: number;
  temperature: number;
  /** Sequences per forward/backward (gradients accumulate over the batch). */
  microBatch: number;
  seed: number;
  /** The user's final edit joins each group as one of the G (an off-policy demonstration with its reward). */
  guided: boolean;
}

/** The language server's training: a GAPO run's settings, and when and on what it runs (defaults: gapo/training-job.ts). */
export interface TrainingSettings extends GapoSettings {
  /** Held-out episodes for the eval gate: the most recent ones, this share of them... */
  heldOutShare: number;
  /** ...but at least this many, and at most maxHeldOut. */
  minHeldOut: number;
  maxHeldOut: number;
  /** Background runs start when this many episodes arrived since the last run... */
  minNewEpisodes: number;
  /** ...and the user has not typed or asked for a suggestion for this long. */
  idleMs: number;
  /** ONNX Runtime threads for training: one leaves a core to suggestions on small machines. */
  threads: number;
  /** A run's time budget for its steps, in minutes: the steps done by then make the candidate; 0: none. */
  maxMinutes: number;
}

/** What a client may send at initialize; the server fills in the rest (lsp/options.ts). */
export interface InitializationOptions {
  /** Where the store, adapters and logs live. */
  dataDir?: string;
  /** A model folder or a hub id; null: capture only; absent: the bundled model. */
  modelDir?: string | null;
  /** Serve this LoRA adapter instead of the store's live version (to measure an adapter through the server). */
  adapterDir?: string;
  /** Where pulled models are kept (the hub cache). */
  cacheDir?: string;
  /** The prompt format to speak, over what the model declares (edits/prompt-format.ts). */
  promptFormat?: string;
  dtype?: WeightDType;
  capture?: Partial<CaptureSettings>;
  suggest?: Partial<SuggestSettings>;
  prompt?: Partial<PromptLimits>;
  training?: Partial<TrainingSettings & { background: boolean }>;
}

/** The formats the collected episodes export to. */
export type ExportFormat = 'jsonl' | 'verl';

/** The command every suggestion carries; the client runs it on accept. */
export const ACCEPT_COMMAND = 'gapo.suggestion.accepted';

export interface ServerStatus {
  version: string;
  dataDir: string;
  model: string | null;
  modelState: 'loading' | 'ready' | 'failed' | 'none';
  modelError: string | null;
  adapterVersion: number;
  openDocuments: number;
  episodes: { total: number; untrained: number; fromSuggestions: number };
  suggestions: {
    shown: number;
    accepted: number;
    typedOver: number;
    ignored: number;
    /** Accepted share of the most recent suggestions whose fate is known (null: none yet). */
    recentAcceptance: { accepted: number; of: number } | null;
    /** Whether suggestions are served (the user can switch them off and keep learning). */
    enabled: boolean;
  };
  /** Paused: nothing is collected or trained until the user resumes. */
  learning: 'on' | 'paused';
  training: {
    state: 'idle' | 'training' | 'unavailable';
    runId: number | null;
    /** The running run's progress (0-100) and phase; null when none runs. */
    percentage: number | null;
    message: string | null;
    lastRun: RunRecord | null;
  };
}

/** One GAPO step: its metrics and its groups' rewards (gapo/gapo-run.ts makes them, the store keeps them). */
export interface GroupSummary {
  id: string;
  rewards: number[];
  mean: number;
  q: number;
  interval: [number, number];
}

export interface StepSummary {
  step: number;
  reward: number;
  loss: number;
  gradNorm: number;
  clipLow: number | undefined;
  clipHigh: number | undefined;
  approxKl: number | undefined;
  entropy: number | undefined;
  /** Micro-batches skipped for a non-finite loss or gradient. */
  skipped: number;
  rolloutS: number;
  updateS: number;
  tokens: number;
  groups: GroupSummary[];
}

/** One adapter's held-out episodes typed through the serving pipeline (gapo/gate.ts). */
export interface HeldOutTyping {
  episodes: number;
  /** Characters the episodes' edits insert. */
  charsTotal: number;
  /** Of those, the ones accepted suggestions wrote. */
  charsSaved: number;
  shown: number;
  accepted: number;
  /** Characters saved in each episode, in order (the gate compares two adapters episode by episode). */
  savedPerEpisode: number[];
}

/** The eval gate's decision on a candidate. */
export interface GateVerdict {
  deploy: boolean;
  /** Characters the candidate saved beyond the live adapter, over all held-out episodes. */
  gain: number;
  /** What the gain had to exceed: the noise of the paired per-episode difference. */
  margin: number;
  /** Why, in words that fit the result line. */
  reason: string;
}

/** What a run's or an adapter's record keeps of the eval gate's judgement (gapo/gate.ts). */
export interface AdapterEvaluation {
  liveVersion: number;
  live: HeldOutTyping;
  candidate: HeldOutTyping;
  verdict: GateVerdict;
}

export interface AdapterRecord {
  version: number;
  time: number;
  path: string | null;
  parent: number | null;
  runId: number | null;
  /** How the eval gate judged it (null: the base model, or judged before the gate typed episodes). */
  eval: AdapterEvaluation | null;
}

/** What started a training run: the idle timer, Train Now, or an adapter's import. */
export type RunTrigger = 'background' | 'manual' | 'import';

/** Where a run stands; interrupted: its process was killed while it ran. */
export type RunStatus = 'running' | RunResult['status'] | 'interrupted';

export interface RunRecord {
  id: number;
  started: number;
  finished: number | null;
  status: RunStatus;
  trigger: RunTrigger;
  /** The settings it ran with (a run recorded by an older version may lack newer ones). */
  options: Partial<TrainingSettings>;
  trainEpisodes: number;
  heldOutEpisodes: number;
  adapterVersion: number | null;
  eval: AdapterEvaluation | null;
  error: string | null;
}

export interface StepRecord {
  runId: number;
  step: number;
  time: number;
  metrics: Omit<StepSummary, 'step' | 'groups'>;
  groups: GroupSummary[];
}

/** Suggestions of one day (UTC) and what became of them; survival: mean share kept at the last check. */
export interface AcceptanceDay {
  day: string;
  shown: number;
  accepted: number;
  typedOver: number;
  ignored: number;
  survival: number | null;
}

/** What was collected from one file. */
export interface CollectedFile {
  path: string;
  episodes: number;
  suggestions: number;
  edits: number;
  lastTime: number;
}

/** What a training run (or an adapter's import) came to. */
export interface RunResult {
  runId: number;
  status: 'deployed' | 'kept' | 'failed' | 'cancelled';
  adapterVersion: number | null;
  /** The held-out episodes typed with the live adapter and with the candidate. */
  live: HeldOutTyping | null;
  candidate: HeldOutTyping | null;
  /** The gate's decision and why (null: the run did not finish). */
  verdict: GateVerdict | null;
  error: string | null;
}

/** Everything the dashboard draws, in one answer. */
export interface DashboardData {
  status: ServerStatus;
  runs: RunRecord[];
  /** The steps of the most recent runs, oldest first (their metrics and reward groups). */
  steps: StepRecord[];
  adapters: AdapterRecord[];
  liveAdapter: number;
  /** Suggestions per day and what became of them; survival: mean share kept at the last check. */
  acceptance: AcceptanceDay[];
  /** What was collected, per file. */
  collected: CollectedFile[];
}


export interface StatsResult {
  runs: RunRecord[];
  /** The steps of the asked-for run (the latest when none is named). */
  steps: StepRecord[];
  adapters: AdapterRecord[];
  liveAdapter: number;
}

export interface ForgetResult {
  episodes: number;
  suggestions: number;
  edits: number;
}


/** Model, adapter, counts and training state. */
export const StatusRequest = new RequestType0<ServerStatus, void>('gapo/status');
/** Training runs, one run's steps and the adapter versions. */
export const StatsRequest = new RequestType<{ runId?: number } | undefined, StatsResult, void>('gapo/stats');
/** Trains now (work-done progress while it runs); answers with the run's result. */
export const TrainNowRequest = new RequestType0<RunResult, void>('gapo/trainNow');
/** Judges an adapter trained elsewhere (PEFT layout) with the eval gate; answers like Train Now. */
export const ImportAdapterRequest = new RequestType<{ dir: string }, RunResult, void>('gapo/importAdapter');
/** Makes an adapter version live (0: the base model). */
export const RollbackRequest = new RequestType<{ version: number }, { adapterVersion: number }, void>('gapo/rollback');
/** Writes the collected episodes to a file. */
export const ExportRequest = new RequestType<{ format?: ExportFormat; out: string }, { out: string; episodes: number }, void>('gapo/export');
/** Deletes collected edits, episodes and suggestions: one file's (path or uri), or all. */
export const ForgetRequest = new RequestType<{ path?: string; uri?: string } | undefined, ForgetResult, void>('gapo/forget');

/** Everything the dashboard shows. */
export const DashboardRequest = new RequestType0<DashboardData, void>('gapo/dashboard');
/** Stops the running training run; its candidate is dropped. Answers whether one was running. */
export const CancelTrainingRequest = new RequestType0<{ cancelled: boolean }, void>('gapo/cancelTraining');
/** Pauses learning (nothing collected, nothing trained; suggestions go on) or resumes it; kept across restarts. */
export const SetLearningRequest = new RequestType<{ paused: boolean }, { learning: ServerStatus['learning'] }, void>('gapo/setLearning');
/**
 * Learns from a repository's history: its recent commits become episodes (through the same
 * privacy filter as typing), with work-done progress. Answers with the episodes stored.
 */
export const LearnFromHistoryRequest = new RequestType<{ folder: string; limit?: number }, { episodes: number; commits: number; skipped: number }, void>('gapo/learnFromHistory');

/**
 * Pulls a model from the Hugging Face hub into the shared hub cache (work-done progress with
 * bytes and rate, cancellable); answers with its folder, for the model setting.
 */
export const PullModelRequest = new RequestType<{ id: string }, { dir: string; downloaded: number }, void>('gapo/pullModel');

/** Sent when anything the status shows changed (model, training progress, adapter, counts). */
export const StatusNotification = new NotificationType<ServerStatus>('gapo/statusChanged');
/** Sent once an episode is committed to the store. */
export const EpisodeCapturedNotification = new NotificationType<{ id: string; path: string; suggestionId: string | null }>('gapo/episodeCaptured');
/** What happened to a shown suggestion (survival checks carry the seconds and the share kept). */
export const OutcomeNotification = new NotificationType<{ suggestionId: string; kind: OutcomeKind; afterS: number | null; share: number | null }>('gapo/outcome');
