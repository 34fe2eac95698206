// Options every model command shares, and turning them into a loaded engine.

import { existsSync } from 'node:fs';
import { cachedModelDir } from '../model/hub';
import { bundledModelDir } from '../model/default-model';
import { Engine } from '../model/engine';
import type { ExecutionProvider } from '../model/sessions';
import { WEIGHT_DTYPES } from '../model/quantize';
import { CommandIO, UsageError } from './command';
import type { WeightDType } from '../protocol';

export const engineOptionSpecs = {
  model: { type: 'string' },
  cache: { type: 'string' },
  provider: { type: 'string', default: 'cpu' },
  threads: { type: 'string' },
  dtype: { type: 'string', default: 'f32' },
  adapter: { type: 'string' },
  'prompt-format': { type: 'string' },
} as const;

export const engineOptionsUsage = `  --model DIR       a Hugging Face model directory (config.json, *.safetensors, tokenizer.json);
                    default: the bundled model (models/default)
  --cache DIR       where converted weights are kept (default ~/.cache/gapo-assistant/weights)
  --provider P      cpu (default) or cuda (falls back to cpu, with a message, when unavailable)
  --threads N       ONNX Runtime threads (default: all cores)
  --dtype D         weights as f32 (default), q8 or q4 (8- or 4-bit blocks of 32, as llama.cpp's
                    Q8_0 and Q4_0: faster and smaller; LoRA training runs on them too, as QLoRA
                    does; training every weight needs f32)
  --adapter DIR     apply a LoRA adapter (PEFT layout) to the model
  --prompt-format F edit, fim-psm or fim-spm (default: what the model declares, else what its
                    tokenizer suggests: fim-psm with FIM tokens, edit otherwise)`;

export async function loadEngine(values: { model?: string; cache?: string; provider?: string; threads?: string; dtype?: string; adapter?: string; 'prompt-format'?: string }, io: CommandIO): Promise<Engine> {
  const modelDir = modelDirOrBundled(values.model);
  if (values.provider !== 'cpu' && values.provider !== 'cuda') throw new UsageError(`--provider must be cpu or cuda, got ${values.provider}`);
  const threads = values.threads === undefined ? undefined : positiveInteger('--threads', values.threads);
  const dtype = values.dtype ?? 'f32';
  if (!WEIGHT_DTYPES.includes(dtype as WeightDType)) throw new UsageError(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${dtype}`);
  try {
    return await Engine.load({
      modelDir,
      cacheDir: values.cache,
      provider: values.provider as ExecutionProvider,
      threads,
      dtype: dtype as WeightDType,
      adapterDir: values.adapter,
      promptFormat: values['prompt-format'],
      log: (message) => io.stderr(`${message}\n`),
    });
  } catch (error) {
    // Bad model files are the user's input: one clear line, exit 2.
    throw new UsageError((error as Error).message);
  }
}

export function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${name} must be a positive integer, got ${text}`);
  return value;
}

export function positiveNumber(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${name} must be a number > 0, got ${text}`);
  return value;
}

export function nonNegativeNumber(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`${name} must be a number >= 0, got ${text}`);
  return value;
}

export function probability(name: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) throw new UsageError(`${name} must be a probability from 0 to 1, got ${text}`);
  return value;
}

/** --model (a folder, or ORG/NAME of a model pulled into the hub cache), else the bundled default model. */
export function modelDirOrBundled(model: string | undefined): string {
  if (model !== undefined && !existsSync(model) && /^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(model)) {
    const cached = cachedModelDir(model);
    if (!cached) throw new UsageError(`${model} is neither a folder nor a model in the hub cache: gapo model pull ${model}`);
    return cached;
  }
  const modelDir = model ?? bundledModelDir();
  if (!modelDir) throw new UsageError('missing --model DIR (this build has no bundled model)');
  return modelDir;
}

/** An optional probability option: null when not given. */
export function optionalProbability(name: string, text: string | undefined): number | null {
  return text === undefined ? null : probability(name, text);
}
