// The server's own requests (declared in protocol.ts): status, the dashboard's data, training
// runs, Train Now and Cancel, pausing learning, learning from a repository's history,
// importing an adapter, rollback, export and forgetting what was collected.

import { resolve } from 'node:path';
import { type CancellationToken, type Connection, ErrorCodes, LSPErrorCodes, type RequestType, ResponseError } from 'vscode-languageserver/node';
import { TrainingError } from '../gapo/learner';
import {
  CancelTrainingRequest,
  type DashboardData,
  DashboardRequest,
  ExportRequest,
  ForgetRequest,
  ImportAdapterRequest,
  LearnFromHistoryRequest,
  PullModelRequest,
  RollbackRequest,
  type RunResult,
  SetLearningRequest,
  StatsRequest,
  type StatsResult,
  StatusRequest,
  TrainNowRequest,
} from '../protocol';
import { GitError } from '../replay/git-episodes';
import { importHistory } from '../replay/history-import';
import { HubError, pullModel } from '../model/hub';
import { exportEpisodes } from '../store/export';
import { filePath, type ServerState } from './state';

const DASHBOARD_RUNS = 30;
const DASHBOARD_RUNS_WITH_STEPS = 5;
const DASHBOARD_DAYS = 60;
/** Commits read by "Learn from Repository History" unless the request says otherwise. */
const HISTORY_COMMITS = 300;

/** An error the user can act on: RequestFailed with the reason. */
const failed = (message: string) => new ResponseError(LSPErrorCodes.RequestFailed, message);

export function answerRequests(connection: Connection, server: () => ServerState): void {
  connection.onRequest(StatusRequest, () => server().status());
  connection.onRequest(DashboardRequest, () => dashboard(server()));
  connection.onRequest(StatsRequest, (params) => stats(server(), params?.runId));
  connection.onRequest(CancelTrainingRequest, () => ({ cancelled: server().learner?.cancel() ?? false }));
  connection.onRequest(SetLearningRequest, (params) => setLearning(server(), params));
  connection.onRequest(LearnFromHistoryRequest, (params, token) => learnFromHistory(connection, server(), params, token));
  connection.onRequest(PullModelRequest, (params, token) => pullWithProgress(connection, server(), params, token));
  connection.onRequest(TrainNowRequest, () => trainNow(connection, server()));
  connection.onRequest(ImportAdapterRequest, (params) => importAdapter(server(), params));
  connection.onRequest(RollbackRequest, (params) => rollback(server(), params));
  connection.onRequest(ExportRequest, (params) => exportCollected(server(), params));
  connection.onRequest(ForgetRequest, (params) => server().forget(params?.uri ? (filePath(params.uri) ?? params.uri) : params?.path));
}

/** The request's parameters, as the protocol types them (a client may still send anything). */
type Params<R> = R extends RequestType<infer P, unknown, unknown> ? P : never;

function dashboard(state: ServerState): DashboardData {
  const { store } = state;
  const runs = store.runs(DASHBOARD_RUNS);
  const steps = runs.slice(0, DASHBOARD_RUNS_WITH_STEPS).reverse().flatMap((run) => store.steps(run.id));
  return { status: state.status(), runs, steps, adapters: store.adapters(), liveAdapter: store.liveAdapterVersion(), acceptance: store.acceptanceByDay(DASHBOARD_DAYS), collected: store.collectedFiles() };
}

function stats({ store }: ServerState, runId: number | undefined): StatsResult {
  const runs = store.runs(50);
  const asked = runId ?? runs[0]?.id;
  return { runs, steps: asked === undefined ? [] : store.steps(asked), adapters: store.adapters(), liveAdapter: store.liveAdapterVersion() };
}

function setLearning(state: ServerState, params: Params<typeof SetLearningRequest>) {
  if (typeof params?.paused !== 'boolean') throw new ResponseError(ErrorCodes.InvalidParams, `${SetLearningRequest.method} takes { paused: boolean }`);
  state.setPaused(params.paused);
  return { learning: params.paused ? 'paused' : 'on' } as const;
}

/** Imports a repository's recent commits as episodes, with work-done progress, holding background training until it ends. */
async function learnFromHistory(connection: Connection, state: ServerState, params: Params<typeof LearnFromHistoryRequest>, token: CancellationToken) {
  if (typeof params?.folder !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${LearnFromHistoryRequest.method} takes { folder: PATH, limit?: number }`);
  if (state.paused) throw failed('learning is paused: resume it first');
  const folder = resolve(params.folder);
  const limit = Number.isInteger(params.limit) && params.limit! > 0 ? params.limit! : HISTORY_COMMITS;
  const progress = await connection.window.createWorkDoneProgress().catch(() => null);
  progress?.begin('GAPO: learning from the repository history', 0, 'reading commits', true);
  const release = state.learner?.holdForImport() ?? (() => {});
  let result;
  try {
    result = await importHistory(folder, limit, state.store, state.privacy, {
      cancelled: () => token.isCancellationRequested || (progress?.token.isCancellationRequested ?? false),
      afterCommit: async (index, total, episodes) => {
        progress?.report(Math.round((100 * index) / total), `${index}/${total} commits, ${episodes} episodes`);
        // Between commits the server answers the editor.
        await new Promise((resolve) => setImmediate(resolve));
      },
    });
  } catch (error) {
    if (error instanceof GitError) throw failed(error.message);
    throw error;
  } finally {
    release();
    progress?.done();
  }
  const { episodes, commits, skipped } = result;
  state.log(`learned ${episodes} episodes from ${commits} commits of ${folder}${skipped ? ` (${skipped} skipped)` : ''}`);
  state.statusChanged();
  return { episodes, commits, skipped };
}

/** Pulls a model from the hub with work-done progress (bytes and rate), cancellable from either side. */
async function pullWithProgress(connection: Connection, state: ServerState, params: Params<typeof PullModelRequest>, token: CancellationToken) {
  if (typeof params?.id !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${PullModelRequest.method} takes { id: ORG/NAME[@REVISION] }`);
  const progress = await connection.window.createWorkDoneProgress().catch(() => null);
  progress?.begin(`GAPO: pulling ${params.id}`, 0, 'asking the hub', true);
  const abort = new AbortController();
  token.onCancellationRequested(() => abort.abort());
  progress?.token.onCancellationRequested(() => abort.abort());
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  try {
    const pulled = await pullModel(params.id, {
      signal: abort.signal,
      onProgress: ({ done, total, bytesPerSecond, file }) => progress?.report(total ? Math.round((100 * done) / total) : 100, `${mib(done)}/${mib(total)} MiB at ${(bytesPerSecond / 2 ** 20).toFixed(1)} MiB/s: ${file}`),
    });
    state.log(`pulled ${params.id} into ${pulled.dir} (${mib(pulled.downloaded)} MiB downloaded)`);
    return { dir: pulled.dir, downloaded: pulled.downloaded };
  } catch (error) {
    // In the output channel too: the notification that shows it goes away.
    state.log(`could not pull ${params.id}: ${(error as Error).message}`);
    if (error instanceof HubError) throw failed(error.message);
    throw error;
  } finally {
    progress?.done();
  }
}

async function trainNow(connection: Connection, state: ServerState): Promise<RunResult> {
  if (!state.learner) throw failed(state.model.state === 'loading' ? 'the model is still loading' : 'no model is loaded, so there is nothing to train');
  if (state.paused) throw failed('learning is paused: resume it first');
  state.trainingProgress ??= await connection.window.createWorkDoneProgress().catch(() => null);
  state.trainingProgress?.begin('GAPO: training', 0, 'starting', true);
  state.trainingProgress?.token.onCancellationRequested(() => state.learner?.cancel());
  try {
    return await state.learner.train('manual');
  } catch (error) {
    if (error instanceof TrainingError) throw failed(error.message);
    throw error;
  } finally {
    state.trainingProgress?.done();
    state.trainingProgress = null;
  }
}

async function importAdapter(state: ServerState, params: Params<typeof ImportAdapterRequest>): Promise<RunResult> {
  if (typeof params?.dir !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ImportAdapterRequest.method} takes { dir: PATH }`);
  if (!state.learner) throw failed(state.model.state === 'loading' ? 'the model is still loading' : 'no model is loaded, so an adapter cannot be judged');
  try {
    return await state.learner.importAdapter(resolve(params.dir));
  } catch (error) {
    if (error instanceof TrainingError) throw failed(error.message);
    throw error;
  }
}

async function rollback({ learner, store }: ServerState, params: Params<typeof RollbackRequest>) {
  if (!learner) throw failed('no model is loaded');
  if (!Number.isInteger(params?.version)) throw new ResponseError(ErrorCodes.InvalidParams, `${RollbackRequest.method} takes { version: number }`);
  try {
    await learner.rollback(params.version);
  } catch (error) {
    throw failed((error as Error).message);
  }
  return { adapterVersion: store.liveAdapterVersion() };
}

function exportCollected({ store, privacy }: ServerState, params: Params<typeof ExportRequest>) {
  const format = params?.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'verl') throw new ResponseError(ErrorCodes.InvalidParams, 'format must be jsonl or verl');
  if (typeof params?.out !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ExportRequest.method} takes { format, out: PATH }`);
  const out = resolve(params.out);
  const episodes = store.episodes();
  // An export opened in the editor is not the user's editing.
  privacy.excludeFolder(out);
  exportEpisodes(episodes, format, out);
  return { out, episodes: episodes.length };
}
