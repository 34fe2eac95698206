// LoRA adapters on every linear layer, saved and loaded in PEFT's layout
// (adapter_config.json + adapter_model.safetensors, tensors named
// `base_model.model.<module>.lora_A.weight` [r, in] and `...lora_B.weight` [out, r]), so they
// load in PEFT and vLLM, and adapters trained there load here.

import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from './ort';
import { writeFileAtomic } from '../util/atomic-write';
import { ModelConfig } from './config';
import { LORA_MODULES, LORA_SCALE, loraA, loraB, loraTargets } from './llama';
import { readSafetensorsHeader, readTensorAsFloat32, writeSafetensors } from './safetensors';
import { seededRandom } from '../edits/text';

export interface LoraModule {
  /** [rank, in] */
  a: Float32Array;
  /** [out, rank] */
  b: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface LoraOptions {
  rank: number;
  alpha: number;
  seed?: number;
  /** rsLoRA scaling alpha / √r instead of alpha / r. */
  rslora?: boolean;
}

export class AdapterError extends Error {}

const ADAPTER_CONFIG = 'adapter_config.json';
const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export class LoraAdapter {
  constructor(
    readonly rank: number,
    readonly alpha: number,
    /** Keyed by module path, e.g. model.layers.0.self_attn.q_proj, in layer order. */
    readonly modules: Map<string, LoraModule>,
    readonly rslora = false,
  ) {}

  get scale(): number {
    return this.rslora ? this.alpha / Math.sqrt(this.rank) : this.alpha / this.rank;
  }

  /** A fresh adapter as PEFT initialises one: A ~ U(±1/√in) (Kaiming), B = 0, so it starts as a no-op. */
  static create(config: ModelConfig, options: LoraOptions): LoraAdapter {
    if (!(Number.isInteger(options.rank) && options.rank >= 1)) throw new AdapterError(`LoRA rank must be a positive integer, got ${options.rank}`);
    const random = seededRandom(options.seed ?? 0);
    const modules = new Map<string, LoraModule>();
    for (const target of loraTargets(config)) {
      const bound = 1 / Math.sqrt(target.inFeatures);
      const a = Float32Array.from({ length: options.rank * target.inFeatures }, () => (random() * 2 - 1) * bound);
      modules.set(target.module, { a, b: new Float32Array(target.outFeatures * options.rank), ...target });
    }
    return new LoraAdapter(options.rank, options.alpha, modules, options.rslora ?? false);
  }

  /** "No adapter": rank one, all zeros, scale zero. */
  static zero(config: ModelConfig): LoraAdapter {
    const adapter = LoraAdapter.create(config, { rank: 1, alpha: 0 });
    for (const module of adapter.modules.values()) module.a.fill(0);
    return adapter;
  }

  clone(): LoraAdapter {
    const modules = new Map([...this.modules].map(([key, m]) => [key, { ...m, a: m.a.slice(), b: m.b.slice() }]));
    return new LoraAdapter(this.rank, this.alpha, modules, this.rslora);
  }

  /** The trainable tensors in a fixed order: A then B of each module. */
  parameters(): Float32Array[] {
    return [...this.modules.values()].flatMap((m) => [m.a, m.b]);
  }

  parameterCount(): number {
    return this.parameters().reduce((sum, p) => sum + p.length, 0);
  }

  /** The graph inputs that apply this adapter. */
  feeds(): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = { [LORA_SCALE]: new ort.Tensor('float32', Float32Array.of(this.scale), []) };
    for (const [module, m] of this.modules) {
      feeds[loraA(module)] = new ort.Tensor('float32', m.a, [this.rank, m.inFeatures]);
      feeds[loraB(module)] = new ort.Tensor('float32', m.b, [m.outFeatures, this.rank]);
    }
    return feeds;
  }

  /** Saves in PEFT's layout; each file is written atomically, the config last. */
  save(dir: string, baseModel = ''): void {
    mkdirSync(dir, { recursive: true });
    const tensors = [...this.modules].flatMap(([module, m]) => [
      { name: `base_model.model.${module}.lora_A.weight`, shape: [this.rank, m.inFeatures], data: m.a },
      { name: `base_model.model.${module}.lora_B.weight`, shape: [m.outFeatures, this.rank], data: m.b },
    ]);
    writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
    const config = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: this.rank,
      lora_alpha: this.alpha,
      lora_dropout: 0,
      target_modules: [...LORA_MODULES],
      bias: 'none',
      fan_in_fan_out: false,
      use_rslora: this.rslora,
      use_dora: false,
      modules_to_save: null,
      inference_mode: true,
    };
    writeFileAtomic(join(dir, ADAPTER_CONFIG), Buffer.from(JSON.stringify(config, null, 2) + '\n'));
  }

  /** Loads a PEFT LoRA adapter for this model; modules it does not target stay zero. */
  static load(dir: string, config: ModelConfig): LoraAdapter {
    const configPath = join(dir, ADAPTER_CONFIG);
    if (!existsSync(configPath)) throw new AdapterError(`${configPath}: no adapter config (is ${dir} a PEFT adapter?)`);
    let peft: Record<string, unknown>;
    try {
      peft = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch {
      throw new AdapterError(`${configPath}: not valid JSON`);
    }
    if (peft.peft_type !== 'LORA') throw new AdapterError(`${configPath}: peft_type ${String(peft.peft_type)} is not LORA`);
    if (peft.use_dora) throw new AdapterError(`${configPath}: DoRA adapters are not supported`);
    if (peft.bias && peft.bias !== 'none') throw new AdapterError(`${configPath}: bias "${String(peft.bias)}" is not supported (only "none")`);
    if (peft.fan_in_fan_out) throw new AdapterError(`${configPath}: fan_in_fan_out adapters are not supported`);
    if (Array.isArray(peft.modules_to_save) && peft.modules_to_save.length) throw new AdapterError(`${configPath}: modules_to_save is not supported`);
    const rank = Number(peft.r);
    const alpha = Number(peft.lora_alpha ?? rank);
    if (!(Number.isInteger(rank) && rank >= 1)) throw new AdapterError(`${configPath}: r must be a positive integer`);
    // An alpha of 0 scales the adapter to nothing: verl's model merger writes it so, on purpose.
    if (!(Number.isFinite(alpha) && alpha > 0)) {
      throw new AdapterError(`${configPath}: lora_alpha must be a positive number, got ${String(peft.lora_alpha)} (an adapter from verl's model merger: set the run's lora_alpha with scale-out/verl/convert.py)`);
    }

    const weightsPath = join(dir, ADAPTER_WEIGHTS);
    const entries = new Map(readSafetensorsHeader(weightsPath).tensors.map((e) => [e.name.replace('.default.weight', '.weight'), e]));
    const adapter = LoraAdapter.create(config, { rank, alpha, rslora: Boolean(peft.use_rslora) });
    let found = 0;
    for (const [module, m] of adapter.modules) {
      const a = entries.get(`base_model.model.${module}.lora_A.weight`);
      const b = entries.get(`base_model.model.${module}.lora_B.weight`);
      if (!a && !b) {
        m.a.fill(0); // a module the adapter does not target: no change
        continue;
      }
      for (const [entry, shape, label] of [
        [a, [rank, m.inFeatures], 'lora_A'],
        [b, [m.outFeatures, rank], 'lora_B'],
      ] as const) {
        if (!entry) throw new AdapterError(`${weightsPath}: ${module} has no ${label} tensor`);
        if (entry.shape.length !== 2 || entry.shape[0] !== shape[0] || entry.shape[1] !== shape[1]) {
          throw new AdapterError(`${weightsPath}: tensor ${entry.name} has shape ${JSON.stringify(entry.shape)}, expected ${JSON.stringify(shape)} for this model`);
        }
      }
      m.a.set(readTensorAsFloat32(a!));
      m.b.set(readTensorAsFloat32(b!));
      found++;
    }
    if (found === 0) throw new AdapterError(`${weightsPath}: no LoRA tensor matches a linear layer of this model`);
    return adapter;
  }
}

/**
 * Why an adapter cannot serve this model, or null when it can: it was trained on another model
 * folder that still exists, or its shapes do not fit (a folder that moved, as the bundled
 * model's does when the extension updates, is judged by its shapes alone).
 */
export function adapterMismatch(adapterDir: string, modelDir: string, config: ModelConfig): string | null {
  try {
    const base = String(JSON.parse(readFileSync(join(adapterDir, ADAPTER_CONFIG), 'utf8')).base_model_name_or_path ?? '');
    if (base && existsSync(base) && statSync(base).isDirectory() && realpathSync(base) !== realpathSync(modelDir)) return `it was trained on ${base}`;
    LoraAdapter.load(adapterDir, config);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
