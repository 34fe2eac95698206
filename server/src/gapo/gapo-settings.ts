// A GAPO run's settings: one type (GapoSettings, in the protocol: the client sends them) with one set of defaults. The language server's training
// (gapo/training-job.ts adds when and on what to train), `gapo train`, the training worker,
// the rollouts and the benchmarks all start from these.

import type { GapoSettings } from '../protocol';
import { defaultEstimatorOptions } from './advantages';

export const defaultGapoSettings: GapoSettings = {
  steps: 4,
  promptsPerStep: 8,
  group: 8,
  estimator: 'gapo',
  tau: defaultEstimatorOptions.tau,
  // 1e-5 moved no greedy answer in 20 steps (issue 30: KL 2e-6, no ratio clipped).
  learningRate: 1e-4,
  rank: 8,
  alpha: 16,
  maxTokens: 128,
  temperature: 1,
  // One sequence at a time: the least memory beside the editor; `gapo train` takes more.
  microBatch: 1,
  seed: 0,
  // Off until measured against plain GAPO on a user's future edits (issue 30).
  guided: false,
};
