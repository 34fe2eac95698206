// The training worker: one background run of GAPO for the language server, in its own thread
// with its own engine, so the serving worker keeps answering. Before every sampling and every
// micro-batch it waits while suggestion requests are in flight (suggestions come first).
// It types the held-out episodes with the live adapter and with the candidate (gapo/gate.ts)
// and writes the candidate; the server decides whether it goes live. An imported adapter (trained elsewhere)
// is judged the same way, without training.

import '../no-telemetry'; // first: before anything can load ONNX Runtime
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../model/engine';
import { LoraAdapter } from '../model/lora';
import { editAndExactMatch } from './reward';
import { gapoRun } from './gapo-run';
import { defaultAdamW } from '../trainer/adamw';
import { PolicyTrainer } from '../trainer/trainer';
import { defaultPolicyLoss } from '../trainer/training-graphs';
import { typeHeldOut } from './gate';
import { SuggestionsFirst } from '../suggest/suggestions-first';
import type { TrainingJob, TrainingMessage } from './training-job';

const port = parentPort!;
const post = (message: TrainingMessage) => port.postMessage(message);
const job = workerData as TrainingJob;
const suggestionsFirst = new SuggestionsFirst(job.suggestionsFirst);

// On Linux a priority set with pid 0 applies to the calling thread only: this one, which also
// runs ONNX Runtime's work when it has one thread. Suggestions then win every contended core.
try {
  setPriority(19);
} catch {
  // not permitted here: training just competes on equal terms
}

async function run(): Promise<void> {
  const s = job.settings;
  post({ type: 'phase', phase: 'loading', done: 0, total: 1 });
  const engine = await Engine.load({
    modelDir: job.modelDir,
    cacheDir: job.cacheDir,
    threads: s.threads,
    adapterDir: job.liveAdapterDir ?? undefined,
    promptFormat: job.serving.promptFormat,
    dtype: job.serving.dtype,
    log: (message) => post({ type: 'log', message }),
  });
  try {
    const evaluate = async (phase: 'evaluating live' | 'evaluating candidate') => {
      post({ type: 'phase', phase, done: 0, total: job.heldOut.length });
      return typeHeldOut(engine, job.heldOut, job.serving, job.prompt, suggestionsFirst.waitForSuggestions, (done, total) => post({ type: 'phase', phase, done, total }));
    };
    const live = await evaluate('evaluating live');

    const candidateAdapter = job.importedAdapterDir ? LoraAdapter.load(job.importedAdapterDir, engine.config) : await train(engine);
    engine.setAdapter(candidateAdapter);
    const candidate = await evaluate('evaluating candidate');
    candidateAdapter.save(job.outDir, job.modelDir);
    post({ type: 'done', live, candidate });
  } finally {
    await engine.dispose();
  }
}

/** The run's GAPO steps from the live adapter (or a fresh one); returns the trained adapter. */
async function train(engine: Engine): Promise<LoraAdapter> {
  const s = job.settings;
  const adapter = engine.currentAdapter?.clone() ?? LoraAdapter.create(engine.config, { rank: s.rank, alpha: s.alpha, seed: s.seed });
  const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, {
    optimizer: { ...defaultAdamW, learningRate: s.learningRate },
    microBatchSize: s.microBatch,
    loss: defaultPolicyLoss,
  });
  trainer.beforeMicroBatch = suggestionsFirst.waitForSuggestions;
  post({ type: 'phase', phase: 'training', done: 0, total: s.steps });
  const deadline = s.maxMinutes > 0 ? Date.now() + s.maxMinutes * 60_000 : Infinity;
  const run = gapoRun(engine, trainer, job.train, { ...s, reward: editAndExactMatch, prompt: job.prompt, beforeEachPrompt: suggestionsFirst.waitForSuggestions });
  for await (const summary of run) {
    post({ type: 'step', summary });
    post({ type: 'phase', phase: 'training', done: summary.step, total: s.steps });
    if (Date.now() >= deadline && summary.step < s.steps) {
      post({ type: 'log', message: `training stopped after ${summary.step} of ${s.steps} steps: the run's budget of ${s.maxMinutes} minutes is spent` });
      break;
    }
  }
  return trainer.adapter;
}

// The server terminates this thread once it has the last message.
run().catch((error: Error) => post({ type: 'failed', message: error.message }));
