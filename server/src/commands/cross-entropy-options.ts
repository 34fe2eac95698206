// Options `gapo pretrain` and `gapo sft` share: the run's length, batches, learning rate,
// checkpoints and time budget.

import { CommandIO } from './command';
import { positiveInteger, positiveNumber } from './engine-options';
import { ProgressBar } from './progress';
import { join } from 'node:path';
import type { RunReport, TrainingRunOptions } from '../model-recipe/cross-entropy-run';

export const trainingRunSpecs = {
  out: { type: 'string' },
  steps: { type: 'string' },
  batch: { type: 'string', default: '16' },
  'micro-batch': { type: 'string', default: '8' },
  lr: { type: 'string' },
  warmup: { type: 'string', default: '100' },
  'final-lr-ratio': { type: 'string', default: '0.1' },
  'weight-decay': { type: 'string', default: '0.1' },
  'eval-every': { type: 'string', default: '100' },
  'checkpoint-every': { type: 'string', default: '100' },
  minutes: { type: 'string' },
  threads: { type: 'string' },
  seed: { type: 'string', default: '0' },
  json: { type: 'boolean', default: false },
} as const;

export const trainingRunUsage = `  --out DIR              checkpoints (OUT/checkpoint, resumed from when present) and the model (OUT/model)
  --steps N              optimizer steps (the learning rate's cosine ends there)
  --batch B              sequences per step (default 16), --micro-batch M per forward pass (default 8)
  --lr R                 peak learning rate, --warmup N steps (default 100), --final-lr-ratio (default 0.1)
  --weight-decay W       AdamW's decoupled weight decay (default 0.1)
  --eval-every N         held-out loss every N steps (default 100); --checkpoint-every N (default 100)
  --minutes M            stop after M minutes with a checkpoint; the same command resumes
  --threads N            ONNX Runtime threads (default: all cores)`;

type Values = { [K in keyof typeof trainingRunSpecs]?: string | boolean };

export function trainingRunOptions(values: Values, modelDir: string, defaultLr: string): TrainingRunOptions {
  const text = (key: keyof typeof trainingRunSpecs) => values[key] as string | undefined;
  return {
    modelDir,
    outDir: text('out')!,
    steps: positiveInteger('--steps', text('steps') ?? ''),
    microBatchSize: positiveInteger('--micro-batch', text('micro-batch')!),
    learningRate: positiveNumber('--lr', text('lr') ?? defaultLr),
    warmupSteps: Number(text('warmup')),
    finalLearningRateRatio: Number(text('final-lr-ratio')),
    weightDecay: Number(text('weight-decay')),
    evalEvery: positiveInteger('--eval-every', text('eval-every')!),
    checkpointEvery: positiveInteger('--checkpoint-every', text('checkpoint-every')!),
    minutes: text('minutes') === undefined ? undefined : positiveNumber('--minutes', text('minutes')!),
    threads: text('threads') === undefined ? undefined : positiveInteger('--threads', text('threads')!),
  };
}

/** A progress bar over the run's steps that shows the latest loss. */
export function stepProgress(steps: number, io: CommandIO): { bar: ProgressBar; onStep: (step: number, loss: number) => void } {
  const bar = new ProgressBar(steps, io.stderr);
  return { bar, onStep: (step, loss) => bar.update(step, `loss ${loss.toFixed(3)}`) };
}

/** The run's last point as JSON, or where its model or checkpoint is. */
export function reportRun(report: RunReport, outDir: string, json: boolean, io: CommandIO): void {
  const last = report.state.curve[report.state.curve.length - 1];
  if (json) io.stdout(JSON.stringify({ finished: report.finished, model: report.modelDir, ...last }) + '\n');
  else if (report.finished) io.stdout(`model: ${report.modelDir} (held-out loss ${last.heldOutLoss.toFixed(3)})\n`);
  else io.stdout(`checkpoint: ${join(outDir, 'checkpoint')} (step ${report.state.step}); run the same command again to resume\n`);
}
