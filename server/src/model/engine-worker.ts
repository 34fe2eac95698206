// The worker thread that owns the model. ONNX Runtime's session.run blocks its thread, so
// the language server's event loop must never run it; this thread runs requests one at a
// time, while cancellations are handled at once, between decode steps.

import '../no-telemetry'; // first: before anything can load ONNX Runtime
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, EngineOptions } from './engine';
import { LoraAdapter } from './lora';
import type { WorkerReply, WorkerRequest } from './engine-protocol';

const port = parentPort!;
const post = (message: WorkerReply) => port.postMessage(message);

const engine: Promise<Engine> = Engine.load({ ...(workerData as EngineOptions), log: (message) => post({ type: 'log', message }) });
engine.then(
  (e) => post({ type: 'ready', info: e.info }),
  (error: Error) => post({ type: 'failed', message: error.message }),
);

const cancelled = new Set<number>();
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'cancel') {
    cancelled.add(request.id);
    return;
  }
  queue = queue.then(() => handle(request));
});

async function handle(request: Exclude<WorkerRequest, { type: 'cancel' }>): Promise<void> {
  const { id } = request;
  try {
    const e = await engine;
    if (cancelled.has(id)) throw Object.assign(new Error('cancelled before it started'), { name: 'CancelledError' });
    switch (request.type) {
      case 'generate':
        post({ type: 'result', id, result: await e.generate(request.prompt, request.options, () => cancelled.has(id)) });
        break;
      case 'setAdapter':
        e.setAdapter(request.adapterDir === null ? null : LoraAdapter.load(request.adapterDir, e.config));
        post({ type: 'result', id, result: null });
        break;
    }
  } catch (error) {
    post({ type: 'error', id, name: (error as Error).name, message: (error as Error).message });
  } finally {
    cancelled.delete(id);
  }
}
