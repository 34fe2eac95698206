// The server's options: from the command line (`gapo serve`) and the client's
// initializationOptions, over the defaults. The CLI's data folder default lives here too.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type CaptureOptions, defaultCaptureOptions } from '../capture/document-capture';
import { defaultMaxFileBytes } from '../capture/privacy';
import { defaultPromptLimits, type PromptLimits } from '../edits/prompt';
import { defaultTrainingSettings, type TrainingSettings } from '../learn/training-job';
import { bundledModelDir } from '../model/default-model';
import type { WeightDType } from '../model/quantize';

export interface ServerOptions {
  dataDir: string;
  /** A model directory; null: capture only (asked for, or no model given and none bundled). */
  modelDir: string | null;
  /** Serve this LoRA adapter instead of the store's live version (to measure an adapter through the server). */
  adapterDir: string | null;
  cacheDir?: string;
  capture: CaptureOptions & { exclude: string[]; maxFileBytes: number; excludeFolders?: string[] };
  /** The prompt format to speak, over what the model declares (edits/prompt-format.ts); null: the model's. */
  promptFormat: string | null;
  /** How the served model's weights are held (training always uses f32). */
  dtype: WeightDType;
  suggest: { enabled: boolean; maxTokens: number; minProbability: number | null };
  prompt: PromptLimits;
  training: TrainingSettings & { background: boolean };
}

/** minProbability null: the model's prompt format's own gate (edits/prompt-format.ts). */
export const defaultSuggestOptions: ServerOptions['suggest'] = { enabled: true, maxTokens: 128, minProbability: null };

/** modelDir undefined: not given (the client's choice, else the bundled model); null: none. */
export type CommandLineOptions = Partial<Pick<ServerOptions, 'dataDir' | 'modelDir' | 'cacheDir' | 'dtype'>>;

export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'gapo-assistant');
}

export function resolveOptions(cli: CommandLineOptions, init: Record<string, any> = {}): ServerOptions {
  return {
    dataDir: resolve(cli.dataDir ?? init.dataDir ?? defaultDataDir()),
    modelDir: cli.modelDir !== undefined ? cli.modelDir : init.modelDir !== undefined ? init.modelDir : bundledModelDir(),
    adapterDir: init.adapterDir ?? null,
    cacheDir: cli.cacheDir ?? init.cacheDir,
    capture: { ...defaultCaptureOptions, exclude: [], maxFileBytes: defaultMaxFileBytes, ...(init.capture ?? {}) },
    promptFormat: init.promptFormat ?? null,
    // Not checked here: an unknown dtype fails the model's load with a clear message, and capture goes on.
    dtype: cli.dtype ?? init.dtype ?? 'f32',
    suggest: { ...defaultSuggestOptions, ...(init.suggest ?? {}) },
    prompt: { ...defaultPromptLimits, ...(init.prompt ?? {}) },
    training: { ...defaultTrainingSettings, background: true, ...(init.training ?? {}) },
  };
}

