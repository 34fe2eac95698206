// Full-weight next-token training with checkpoints and resume: what `gapo pretrain` and
// `gapo sft` share. Batches are a pure function of the step number, so a checkpoint needs
// only the weights, the optimizer's moments and the step to resume exactly where it stopped.
//
// OUT/checkpoint/  config.json, tokenizer files, model.safetensors (F32), optimizer.safetensors,
//                  state.json ({ step, curve }); replaced atomically (a killed run loses at
//                  most the steps since the last checkpoint)
// OUT/model/       the trained model (F32), written when the run reaches its last step

import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../model/engine';
import { readSafetensorsHeader, readTensorAsFloat32, writeSafetensors } from '../model/safetensors';
import { ModelWeights } from '../model/weights';
import { AdamWOptions, defaultAdamW } from '../trainer/adamw';
import { CrossEntropyTrainer, TrainingSequence } from '../trainer/trainer';

export interface TrainingRunOptions {
  /** The model to start from (ignored when OUT/checkpoint exists: the run resumes). */
  modelDir: string;
  outDir: string;
  steps: number;
  microBatchSize: number;
  learningRate: number;
  warmupSteps: number;
  /** Cosine decay to this share of the rate at the last step (1: constant). */
  finalLearningRateRatio: number;
  weightDecay: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Stop (after a checkpoint) once this many minutes have passed; a later run resumes. */
  minutes?: number;
  threads?: number;
  cacheDir?: string;
  /** The prompt format the run teaches, declared in the saved config (`gapo_prompt_format`). */
  promptFormat?: string;
}

export interface CurvePoint {
  step: number;
  /** Mean training loss (nats per token) over the steps since the last point; null before the first step. */
  trainLoss: number | null;
  heldOutLoss: number;
  tokens: number;
  seconds: number;
}

export interface RunState {
  step: number;
  tokens: number;
  seconds: number;
  curve: CurvePoint[];
}

export interface TrainingData {
  /** The sequences of one step; the same step always gives the same batch. */
  batch(step: number): TrainingSequence[];
  /** Sequences the loss is reported on, never trained on. */
  heldOut: TrainingSequence[];
}

export interface RunReport {
  state: RunState;
  finished: boolean;
  modelDir: string | null;
}

const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

export async function runTraining(data: TrainingData, options: TrainingRunOptions, log: (line: string) => void, onStep?: (step: number, loss: number) => void): Promise<RunReport> {
  const checkpointDir = join(options.outDir, 'checkpoint');
  const resuming = existsSync(join(checkpointDir, 'state.json'));
  const startDir = resuming ? checkpointDir : options.modelDir;
  const engine = await Engine.load({ modelDir: startDir, cacheDir: options.cacheDir ?? join(options.outDir, 'cache'), threads: options.threads });
  const weights = ModelWeights.open(startDir, engine.config);
  const values = new Map(weights.specs.map((s) => [s.name, weights.read(s.name)]));
  const optimizer: AdamWOptions = {
    ...defaultAdamW,
    learningRate: options.learningRate,
    weightDecay: options.weightDecay,
    warmupSteps: options.warmupSteps,
    decaySteps: options.steps,
    minLearningRate: options.learningRate * options.finalLearningRateRatio,
  };
  const trainer = await CrossEntropyTrainer.create(
    { config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions },
    { kind: 'full', weights: values },
    { microBatchSize: options.microBatchSize, optimizer },
  );
  await engine.dispose();
  let state: RunState = { step: 0, tokens: 0, seconds: 0, curve: [] };
  if (resuming) {
    state = JSON.parse(readFileSync(join(checkpointDir, 'state.json'), 'utf8'));
    const moments = readSafetensorsHeader(join(checkpointDir, 'optimizer.safetensors')).tensors;
    const byName = new Map(moments.map((t) => [t.name, t]));
    const read = (prefix: string) => trainer.parameterOrder.map((name) => readTensorAsFloat32(byName.get(`${prefix}.${name}`)!));
    trainer.optimizerState.restore(state.step, read('m'), read('v'));
    log(`resuming at step ${state.step} of ${options.steps}`);
  }

  const heldOutLoss = async () => (await trainer.lossAndGradients(data.heldOut)).loss;
  const save = (dir: string, withOptimizer: boolean) => {
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    for (const file of MODEL_FILES) if (existsSync(join(startDir, file))) copyFileSync(join(startDir, file), join(partial, file));
    if (options.promptFormat) {
      const config = JSON.parse(readFileSync(join(partial, 'config.json'), 'utf8'));
      writeFileSync(join(partial, 'config.json'), JSON.stringify({ ...config, gapo_prompt_format: options.promptFormat }, null, 2) + '\n');
    }
    writeSafetensors(join(partial, 'model.safetensors'), weights.specs.map((s) => ({ name: s.name, shape: s.shape, data: values.get(s.name)! })), { format: 'pt' });
    if (withOptimizer) {
      const { m, v } = trainer.optimizerState.moments;
      const tensors = trainer.parameterOrder.flatMap((name, k) => [
        { name: `m.${name}`, shape: [m[k].length], data: m[k] },
        { name: `v.${name}`, shape: [v[k].length], data: v[k] },
      ]);
      writeSafetensors(join(partial, 'optimizer.safetensors'), tensors);
      writeFileSync(join(partial, 'state.json'), JSON.stringify(state) + '\n');
    }
    // Swap in the new folder; the old one goes only after the new one is complete.
    const old = `${dir}.old`;
    rmSync(old, { recursive: true, force: true });
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(partial, dir);
    rmSync(old, { recursive: true, force: true });
  };

  if (state.curve.length === 0) state.curve.push({ step: 0, trainLoss: null, heldOutLoss: await heldOutLoss(), tokens: 0, seconds: 0 });
  const started = performance.now();
  const startSeconds = state.seconds;
  let lossSum = 0;
  let lossSteps = 0;
  while (state.step < options.steps) {
    const metrics = await trainer.train(data.batch(state.step));
    state.step++;
    state.tokens += metrics.tokens;
    state.seconds = startSeconds + (performance.now() - started) / 1000;
    if (!metrics.skipped) {
      lossSum += metrics.loss;
      lossSteps++;
    }
    onStep?.(state.step, metrics.loss);
    const last = state.step === options.steps;
    if (state.step % options.evalEvery === 0 || last) {
      const point = { step: state.step, trainLoss: lossSum / Math.max(1, lossSteps), heldOutLoss: await heldOutLoss(), tokens: state.tokens, seconds: Math.round(state.seconds) };
      state.curve.push(point);
      lossSum = lossSteps = 0;
      log(`step ${point.step}/${options.steps}: train loss ${point.trainLoss.toFixed(3)}, held-out loss ${point.heldOutLoss.toFixed(3)}, ${point.tokens} tokens, ${point.seconds} s`);
    }
    const outOfTime = options.minutes !== undefined && (performance.now() - started) / 60000 >= options.minutes;
    if (state.step % options.checkpointEvery === 0 || last || outOfTime) save(checkpointDir, true);
    if (outOfTime && !last) {
      log(`stopped after ${options.minutes} minutes at step ${state.step}; run the same command again to resume`);
      return { state, finished: false, modelDir: null };
    }
  }
  const modelDir = join(options.outDir, 'model');
  save(modelDir, false);
  writeFileSync(join(options.outDir, 'curve.json'), JSON.stringify(state.curve, null, 1) + '\n');
  return { state, finished: true, modelDir };
}
