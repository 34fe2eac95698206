import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../model/config';
import { initModel, TokenizerKind } from '../model/init-model';
import { presets } from '../model/presets';
import { StorageDType } from '../model/safetensors';
import { Command, UsageError } from './command';
import { nonNegativeNumber } from './engine-options';

export const initModelCommand: Command = {
  name: 'init-model',
  summary: 'write a randomly initialised model (for tests and benchmarks)',
  usage: `gapo init-model (--config FILE | --preset ${Object.keys(presets).join('|')}) --out DIR [--seed 0]
                      [--tokenizer bytes|qwen] [--dtype f32|bf16|f16]

Writes config.json, model.safetensors and a tokenizer to DIR. --config takes a Hugging Face
config.json (LlamaForCausalLM or Qwen2ForCausalLM). The byte tokenizer has 260 tokens; the Qwen
tokenizer (Qwen2.5's vocabulary) needs vocab_size >= 151669.`,

  run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        preset: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string', default: '0' },
        tokenizer: { type: 'string', default: 'bytes' },
        dtype: { type: 'string', default: 'f32' },
      },
      strict: true,
    });
    if (!values.out) throw new UsageError('missing --out DIR');
    if ((values.config === undefined) === (values.preset === undefined)) throw new UsageError('give --config FILE or --preset NAME (one of them)');
    let json: unknown;
    if (values.preset !== undefined) {
      json = presets[values.preset];
      if (!json) throw new UsageError(`unknown preset ${values.preset} (choose ${Object.keys(presets).join(', ')})`);
    } else {
      try {
        json = JSON.parse(readFileSync(values.config!, 'utf8'));
      } catch (error) {
        throw new UsageError(`cannot read --config ${values.config}: ${(error as Error).message}`);
      }
    }
    if (values.tokenizer !== 'bytes' && values.tokenizer !== 'qwen') throw new UsageError('--tokenizer must be bytes or qwen');
    const dtype = { f32: 'F32', bf16: 'BF16', f16: 'F16' }[values.dtype] as StorageDType | undefined;
    if (!dtype) throw new UsageError('--dtype must be f32, bf16 or f16');
    try {
      const config = parseModelConfig(json, values.config ?? values.preset);
      initModel(config, values.out, { seed: Math.floor(nonNegativeNumber('--seed', values.seed)), tokenizer: values.tokenizer as TokenizerKind, dtype });
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError((error as Error).message);
    }
    io.stdout(`wrote a random model to ${values.out}\n`);
    return 0;
  },
};
