// The language server's handle on the model: every call goes to the engine worker thread, so
// the server's event loop stays free while the model runs. Calls take an AbortSignal; aborting
// stops a generation between decode steps (a newer keystroke frees the worker for itself).

import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { formatOf, type PromptFormat } from '../edits/prompt-format';
import type { EngineInfo, EngineOptions, GenerateOptions, Generation } from './engine';
import type { WorkerReply, WorkerRequest } from './engine-protocol';

export class EngineStoppedError extends Error {}

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private stopped: string | null = null;
  /** How the served model is prompted (from its info, made once: every suggestion uses it). */
  readonly promptFormat: PromptFormat;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
  ) {
    this.promptFormat = formatOf(info.promptFormat);
  }

  /** Starts a worker and waits until its model is loaded (or fails to load). */
  static start(options: Omit<EngineOptions, 'log'> & { workerPath?: string; log?: (message: string) => void }): Promise<EngineClient> {
    const { workerPath, log, ...engineOptions } = options;
    const worker = new Worker(workerPath ?? join(__dirname, 'engine-worker.js'), { workerData: engineOptions });
    return new Promise((resolve, reject) => {
      let client: EngineClient | null = null;
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'log') log?.(reply.message);
        else if (reply.type === 'ready') resolve((client = new EngineClient(worker, reply.info)));
        else if (reply.type === 'failed') {
          void worker.terminate();
          reject(new Error(reply.message));
        } else client?.settle(reply);
      });
      const fail = (why: string) => {
        if (client) client.stop(why);
        else reject(new EngineStoppedError(why));
      };
      worker.on('error', (error) => fail(`the model worker crashed: ${error.message}`));
      worker.on('exit', (code) => fail(`the model worker exited (code ${code})`));
    });
  }

  generate(prompt: string | number[], options: Partial<GenerateOptions> = {}, signal?: AbortSignal): Promise<Generation[]> {
    return this.call({ type: 'generate', prompt, options }, signal) as Promise<Generation[]>;
  }

  /** Swaps the adapter (a PEFT directory, or null for the base model) between requests. */
  setAdapter(adapterDir: string | null): Promise<void> {
    return this.call({ type: 'setAdapter', adapterDir }) as Promise<void>;
  }

  get running(): boolean {
    return this.stopped === null;
  }

  async dispose(): Promise<void> {
    this.stop('the engine was disposed');
    await this.worker.terminate();
  }

  private call(body: RequestBody, signal?: AbortSignal): Promise<unknown> {
    if (this.stopped) return Promise.reject(new EngineStoppedError(this.stopped));
    if (signal?.aborted) return Promise.reject(Object.assign(new Error('cancelled before it started'), { name: 'CancelledError' }));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id } as WorkerRequest);
      if (signal) {
        const cancel = () => this.worker.postMessage({ type: 'cancel', id } satisfies WorkerRequest);
        if (signal.aborted) cancel();
        else signal.addEventListener('abort', cancel, { once: true });
      }
    });
  }

  private settle(reply: WorkerReply): void {
    if (reply.type !== 'result' && reply.type !== 'error') return;
    const entry = this.pending.get(reply.id);
    if (!entry) return;
    this.pending.delete(reply.id);
    if (reply.type === 'result') entry.resolve(reply.result);
    else entry.reject(Object.assign(new Error(reply.message), { name: reply.name }));
  }

  private stop(why: string): void {
    if (this.stopped) return;
    this.stopped = why;
    for (const { reject } of this.pending.values()) reject(new EngineStoppedError(why));
    this.pending.clear();
  }
}
