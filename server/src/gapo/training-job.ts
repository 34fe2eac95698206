// What the language server hands its training worker, and what comes back.

import { defaultGapoSettings } from './gapo-settings';
import type { HeldOutTyping, PromptLimits, StepSummary, TrainingSettings, WeightDType } from '../protocol';
import type { Episode } from '../edits/episode';
import type { RunPrompt } from './gapo-run';

/** A run's GAPO settings, and when and on what the server trains. */
export const defaultTrainingSettings: TrainingSettings = {
  ...defaultGapoSettings,
  heldOutShare: 0.2,
  minHeldOut: 4,
  maxHeldOut: 32,
  minNewEpisodes: 16,
  idleMs: 60_000,
  threads: 1,
  // A large model's step takes minutes on a laptop's CPU: a run should not train all afternoon.
  maxMinutes: 15,
};

/** What serving chose that training and its eval gate must follow. */
export interface ServingChoices {
  /** The prompt format, over the model's own; undefined: the model's. */
  promptFormat?: string;
  /** null: the prompt format's own gate. */
  minProbability: number | null;
  /** The weights served: training and the eval gate run on the same (q8/q4: LoRA on the quantized base, as QLoRA trains). */
  dtype: WeightDType;
  /** The longest suggestion served, in tokens. */
  maxTokens: number;
  /** Lines each side of the cursor line that a suggestion may rewrite. */
  regionLines: number;
}

export interface TrainingJob {
  modelDir: string;
  cacheDir?: string;
  /** The live adapter, which training continues and the candidate is compared against. */
  liveAdapterDir: string | null;
  /** Where the candidate adapter is written (PEFT layout). */
  outDir: string;
  /** An adapter trained elsewhere (PEFT layout) to judge as the candidate instead of training one. */
  importedAdapterDir?: string;
  train: RunPrompt[];
  heldOut: Episode[];
  settings: TrainingSettings;
  /** The same limits the server's suggestions use, so training sees the prompts serving sends. */
  prompt: PromptLimits;
  /** Serving's prompt format override and confidence gate: the eval gate judges what users would see. */
  serving: ServingChoices;
  /** The buffer of the server's SuggestionsFirst: the worker waits while suggestions are in flight. */
  suggestionsFirst: SharedArrayBuffer;
}

export type TrainingMessage =
  | { type: 'log'; message: string }
  | { type: 'phase'; phase: 'loading' | 'evaluating live' | 'training' | 'evaluating candidate'; done: number; total: number }
  | { type: 'step'; summary: StepSummary }
  | { type: 'done'; live: HeldOutTyping; candidate: HeldOutTyping }
  | { type: 'failed'; message: string };
