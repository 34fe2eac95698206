// The server's own requests (declared in protocol.ts): status, training runs, Train Now,
// importing an adapter, rollback, export and forgetting what was collected.

import { resolve } from 'node:path';
import { type Connection, ErrorCodes, LSPErrorCodes, ResponseError } from 'vscode-languageserver/node';
import { TrainingError } from '../learn/learner';
import { ExportRequest, ForgetRequest, ImportAdapterRequest, RollbackRequest, StatsRequest, StatusRequest, TrainNowRequest } from '../protocol';
import { exportEpisodes } from '../store/export';
import { filePath, type ServerState } from './state';

/** An error the user can act on: RequestFailed with the reason. */
const failed = (message: string) => new ResponseError(LSPErrorCodes.RequestFailed, message);

export function answerRequests(connection: Connection, server: () => ServerState): void {
  connection.onRequest(StatusRequest, () => server().status());

  connection.onRequest(StatsRequest, (params) => {
    const { store } = server();
    const runs = store.runs(50);
    const runId = params?.runId ?? runs[0]?.id;
    return { runs, steps: runId === undefined ? [] : store.steps(runId), adapters: store.adapters(), liveAdapter: store.liveAdapterVersion() };
  });

  connection.onRequest(TrainNowRequest, async () => {
    const state = server();
    if (!state.learner) throw failed(state.model.state === 'loading' ? 'the model is still loading' : 'no model is loaded, so there is nothing to train');
    state.trainingProgress ??= await connection.window.createWorkDoneProgress().catch(() => null);
    state.trainingProgress?.begin('GAPO: training', 0, 'starting', false);
    try {
      return await state.learner.train('manual');
    } catch (error) {
      if (error instanceof TrainingError) throw failed(error.message);
      throw error;
    } finally {
      state.trainingProgress?.done();
      state.trainingProgress = null;
    }
  });

  connection.onRequest(ImportAdapterRequest, async (params) => {
    const state = server();
    if (typeof params?.dir !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ImportAdapterRequest.method} takes { dir: PATH }`);
    if (!state.learner) throw failed(state.model.state === 'loading' ? 'the model is still loading' : 'no model is loaded, so an adapter cannot be judged');
    try {
      return await state.learner.importAdapter(resolve(params.dir));
    } catch (error) {
      if (error instanceof TrainingError) throw failed(error.message);
      throw error;
    }
  });

  connection.onRequest(RollbackRequest, async (params) => {
    const { learner, store } = server();
    if (!learner) throw failed('no model is loaded');
    if (!Number.isInteger(params?.version)) throw new ResponseError(ErrorCodes.InvalidParams, `${RollbackRequest.method} takes { version: number }`);
    try {
      await learner.rollback(params.version);
    } catch (error) {
      throw failed((error as Error).message);
    }
    return { adapterVersion: store.liveAdapterVersion() };
  });

  connection.onRequest(ExportRequest, (params) => {
    const { store, privacy } = server();
    const format = params?.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'verl') throw new ResponseError(ErrorCodes.InvalidParams, 'format must be jsonl or verl');
    if (typeof params?.out !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ExportRequest.method} takes { format, out: PATH }`);
    const out = resolve(params.out);
    const episodes = store.episodes();
    // An export opened in the editor is not the user's editing.
    privacy.excludeFolder(out);
    exportEpisodes(episodes, format, out);
    return { out, episodes: episodes.length };
  });

  connection.onRequest(ForgetRequest, (params) => server().forget(params?.uri ? (filePath(params.uri) ?? params.uri) : params?.path));
}
