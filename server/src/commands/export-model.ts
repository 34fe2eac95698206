import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readModelConfig } from '../model/config';
import { type GgufDType, writeGguf } from '../model/gguf';
import { LoraAdapter } from '../model/lora';
import { ModelWeights } from '../model/weights';
import { Command, UsageError } from './command';
import { modelDirOrBundled } from './engine-options';

const DTYPES: GgufDType[] = ['f16', 'q8_0', 'q4_0', 'f32'];

export const exportModelCommand: Command = {
  name: 'export-model',
  summary: 'write the model, with an adapter merged in, as a GGUF file for llama.cpp, Ollama or LM Studio',
  usage: `gapo export-model --format gguf --out FILE [--model DIR] [--adapter DIR] [--dtype f16|q8_0|q4_0|f32]

Merges the LoRA adapter (PEFT's layout; a version the server trained lives in DATA/adapters/vN)
into the model's weights and writes one GGUF v3 file: architecture metadata, the tokenizer and
the weights under llama.cpp's names. Matrices in --dtype (default f16; q8_0 and q4_0 are
llama.cpp's 8- and 4-bit formats), vectors in f32. Llama and Qwen2 models with a byte-level BPE tokenizer.

  --model DIR     the base model (default: the bundled model)
  --adapter DIR   a LoRA adapter to merge (default: none, the base model alone)`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { format: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' }, adapter: { type: 'string' }, dtype: { type: 'string', default: 'f16' } },
      strict: true,
    });
    if (values.format !== 'gguf') throw new UsageError(values.format ? `unknown format ${values.format} (only gguf)` : 'missing --format gguf');
    if (!values.out) throw new UsageError('missing --out FILE');
    const dtype = values.dtype as GgufDType;
    if (!DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got ${values.dtype}`);
    const out = resolve(values.out);
    if (!existsSync(dirname(out))) throw new UsageError(`${dirname(out)}: no such folder`);
    const modelDir = modelDirOrBundled(values.model);
    let written;
    let adapter: LoraAdapter | null;
    try {
      const config = readModelConfig(modelDir);
      adapter = values.adapter ? LoraAdapter.load(resolve(values.adapter), config) : null;
      written = writeGguf(out, config, ModelWeights.open(modelDir, config), { adapter, dtype, name: adapter ? `${modelDir} + ${values.adapter}` : modelDir });
    } catch (error) {
      // Bad model or adapter files are the user's input: one clear line, exit 2.
      throw new UsageError((error as Error).message);
    }
    io.stderr(`wrote ${out}: ${written.tensors} tensors, ${(written.bytes / 2 ** 20).toFixed(1)} MiB, ${dtype}${adapter ? `, adapter ${values.adapter} merged` : ''}\n`);
    return 0;
  },
};
