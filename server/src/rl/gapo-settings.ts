// A GAPO run's settings: one type with one set of defaults. The language server's training
// (learn/training-job.ts adds when and on what to train), `gapo train`, the training worker,
// the rollouts and the benchmarks all start from these.

import { defaultEstimatorOptions, type EstimatorName } from './advantages';

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
}

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
};
