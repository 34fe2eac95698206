// The language server's own requests and notifications beside plain LSP, each declared once
// with its parameter and result types (as rust-analyzer's lsp_ext.ts does). The server, the
// VS Code extension (bundled from here), the LSP client session and the tests all use these:
// no `gapo/...` method name is written anywhere else.

import { NotificationType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';
import type { RunResult } from './learn/learner';
import type { ExportFormat } from './store/export';
import type { AdapterRecord, RunRecord, StepRecord } from './store/store';
import type { OutcomeKind } from './edits/suggestion';

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
  suggestions: { shown: number; accepted: number; typedOver: number; ignored: number };
  training: { state: 'idle' | 'training' | 'unavailable'; runId: number | null; lastRun: RunRecord | null };
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

export type { ExportFormat, RunResult };

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

/** Sent once an episode is committed to the store. */
export const EpisodeCapturedNotification = new NotificationType<{ id: string; path: string; suggestionId: string | null }>('gapo/episodeCaptured');
/** What happened to a shown suggestion (survival checks carry the seconds and the share kept). */
export const OutcomeNotification = new NotificationType<{ suggestionId: string; kind: OutcomeKind; afterS: number | null; share: number | null }>('gapo/outcome');
