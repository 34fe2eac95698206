// The server's options: from the command line (`gapo serve`) and the client's
// initializationOptions, over the defaults. The CLI's data folder default lives here too.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultCaptureOptions } from '../capture/document-capture';
import { defaultMaxFileBytes } from '../capture/privacy';
import { defaultPromptLimits } from '../edits/prompt';
import { defaultTrainingSettings } from '../gapo/training-job';
import { bundledModelDir } from '../model/default-model';
import { estimators, isEstimatorName } from '../gapo/advantages';
import { WEIGHT_DTYPES } from '../model/quantize';
import type { CaptureSettings, InitializationOptions, PromptLimits, SuggestSettings, TrainingSettings, WeightDType } from '../protocol';

export interface ServerOptions {
  dataDir: string;
  /** A model directory; null: capture only (asked for, or no model given and none bundled). */
  modelDir: string | null;
  /** Serve this LoRA adapter instead of the store's live version (to measure an adapter through the server). */
  adapterDir: string | null;
  cacheDir?: string;
  capture: CaptureSettings;
  /** The prompt format to speak, over what the model declares (edits/prompt-format.ts); null: the model's. */
  promptFormat: string | null;
  /** How the served model's weights are held (training always uses f32). */
  dtype: WeightDType;
  suggest: SuggestSettings;
  prompt: PromptLimits;
  training: TrainingSettings & { background: boolean };
}

/** minProbability null: the model's prompt format's own gate (edits/prompt-format.ts). */
export const defaultSuggestOptions: SuggestSettings = { enabled: true, maxTokens: 128, minProbability: null };

/** modelDir undefined: not given (the client's choice, else the bundled model); null: none. */
export type CommandLineOptions = Partial<Pick<ServerOptions, 'dataDir' | 'modelDir' | 'cacheDir' | 'dtype'>>;

export function defaultDataDir(): string {
  return join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'gapo-assistant');
}

const defaultCaptureSettings: CaptureSettings = { ...defaultCaptureOptions, exclude: [], maxFileBytes: defaultMaxFileBytes, excludeFolders: [] };
const defaultServerTraining: ServerOptions['training'] = { ...defaultTrainingSettings, background: true };

export function resolveOptions(cli: CommandLineOptions, init: InitializationOptions = {}): ServerOptions {
  return {
    dataDir: resolve(cli.dataDir ?? init.dataDir ?? defaultDataDir()),
    modelDir: cli.modelDir !== undefined ? cli.modelDir : init.modelDir !== undefined ? init.modelDir : bundledModelDir(),
    adapterDir: init.adapterDir ?? null,
    cacheDir: cli.cacheDir ?? init.cacheDir,
    capture: { ...defaultCaptureSettings, ...init.capture },
    promptFormat: init.promptFormat ?? null,
    dtype: cli.dtype ?? init.dtype ?? 'f32',
    suggest: { ...defaultSuggestOptions, ...init.suggest },
    prompt: { ...defaultPromptLimits, ...init.prompt },
    training: { ...defaultServerTraining, ...init.training },
  };
}

/**
 * The value a setting must have, judged from its default; null defaults take a number too (a
 * gate, a limit); an empty list's items are strings (globs, folders).
 */
function sameKind(value: unknown, fallback: unknown): boolean {
  if (Array.isArray(fallback)) return Array.isArray(value) && value.every((v) => typeof v === (fallback.length ? typeof fallback[0] : 'string'));
  if (fallback === null) return value === null || (typeof value === 'number' && Number.isFinite(value));
  if (typeof fallback === 'number') return typeof value === 'number' && Number.isFinite(value);
  return typeof value === typeof fallback;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The client's initializationOptions as InitializationOptions: a setting of the wrong kind or
 * an unknown one is dropped (its default serves) and named in `problems`, so that a bad
 * settings file never stops the server.
 */
export function readInitializationOptions(raw: unknown): { options: InitializationOptions; problems: string[] } {
  const problems: string[] = [];
  if (raw === undefined || raw === null) return { options: {}, problems };
  if (!isObject(raw)) return { options: {}, problems: [`initializationOptions is ${typeof raw}, not an object: all ignored`] };
  const section = <T extends object>(name: string, defaults: T): Partial<T> | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (!isObject(value)) {
      problems.push(`${name}: not an object, ignored`);
      return undefined;
    }
    const kept: Record<string, unknown> = {};
    for (const [key, setting] of Object.entries(value)) {
      // undefined: a client that sends every setting, unset ones as undefined (the default serves).
      if (setting === undefined) continue;
      if (!Object.hasOwn(defaults, key)) problems.push(`${name}.${key}: unknown setting, ignored`);
      else if (!sameKind(setting, (defaults as Record<string, unknown>)[key])) problems.push(`${name}.${key}: ${JSON.stringify(setting)} is not a valid value, the default serves`);
      else kept[key] = setting;
    }
    return kept as Partial<T>;
  };
  const text = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined || typeof value === 'string') return value;
    problems.push(`${name}: ${JSON.stringify(value)} is not a string, ignored`);
    return undefined;
  };
  const training = section('training', defaultServerTraining);
  if (training?.estimator !== undefined && !isEstimatorName(training.estimator)) {
    problems.push(`training.estimator: "${training.estimator}" is not one of ${Object.keys(estimators).join(', ')}; the default serves`);
    delete training.estimator;
  }
  const dtype = text('dtype');
  if (dtype !== undefined && !WEIGHT_DTYPES.includes(dtype as WeightDType)) problems.push(`dtype: "${dtype}" is not one of ${WEIGHT_DTYPES.join(', ')}; f32 serves`);
  const modelDir = raw.modelDir === null ? null : text('modelDir');
  const options: InitializationOptions = {
    dataDir: text('dataDir'),
    modelDir,
    adapterDir: text('adapterDir'),
    cacheDir: text('cacheDir'),
    promptFormat: text('promptFormat'),
    dtype: WEIGHT_DTYPES.find((d) => d === dtype),
    capture: section('capture', defaultCaptureSettings),
    suggest: section('suggest', defaultSuggestOptions),
    prompt: section('prompt', defaultPromptLimits),
    training,
  };
  const known = new Set(['dataDir', 'modelDir', 'adapterDir', 'cacheDir', 'promptFormat', 'dtype', 'capture', 'suggest', 'prompt', 'training']);
  for (const key of Object.keys(raw)) if (!known.has(key)) problems.push(`${key}: unknown setting, ignored`);
  // Absent, not undefined: `...options` over defaults must not blank them.
  for (const key of Object.keys(options) as (keyof InitializationOptions)[]) if (options[key] === undefined) delete options[key];
  return { options, problems };
}
