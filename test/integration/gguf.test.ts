// The GGUF export checked by llama.cpp itself (node-llama-cpp's prebuilt binaries, offline):
// the file loads, llama.cpp tokenizes a prompt into the engine's ids, and its greedy tokens are
// the engine's, for the bundled Llama model, a Qwen2 model with biases, and a LoRA adapter
// merged into the weights.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readModelConfig } from '../../server/src/model/config';
import { Engine } from '../../server/src/model/engine';
import { GgufError, interleaveRopeRows, writeGguf, type GgufDType } from '../../server/src/model/gguf';
import { LoraAdapter } from '../../server/src/model/lora';
import { ModelWeights } from '../../server/src/model/weights';
import { seededRandom } from '../../server/src/edits/text';
import { makeModel, tempDir } from '../helpers/models';
import { type Llama, loadLlamaCpp } from '../helpers/llama-cpp';
import { repoRoot } from '../helpers/paths';
import type { WeightDType } from '../../server/src/protocol';


const PROMPTS = [
  'function total(items) {\n  let sum = 0;\n  for (let i = 0; i < items.length; i',
  'def is_number(value):\n    return isinstance(value, ',
  "import { readdirSync, readFileSync, writeFileSync } from 'node:fs';\nconst text = readFileSync(",
];
const STEPS = 12;

/** llama.cpp's greedy continuation of token ids, and its own tokenization of the prompt. */
async function llamaCpp(llama: Llama, file: string, prompt: string, ids: number[]): Promise<{ tokens: number[]; greedy: number[] }> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const context = await model.createContext({ contextSize: 256, threads: llama.cpuMathCores });
    try {
      const greedy: number[] = [];
      for await (const token of context.getSequence().evaluate(ids, { temperature: 0 })) {
        // Both stop at the end-of-text token without counting it.
        if (token === model.tokens.eos) break;
        greedy.push(token);
        if (greedy.length === STEPS) break;
      }
      return { tokens: [...model.tokenize(prompt, true)], greedy };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function engineGreedy(modelDir: string, prompt: string, adapterDir?: string, dtype: WeightDType = 'f32'): Promise<{ ids: number[]; greedy: number[] }> {
  const engine = await Engine.load({ modelDir, adapterDir, cacheDir: tempDir('gguf-cache'), threads: 1, dtype });
  try {
    const ids = engine.tokenizer.encode(prompt);
    const [generation] = await engine.generate(ids, { maxTokens: STEPS, temperature: 0 });
    return { ids, greedy: generation.tokens };
  } finally {
    await engine.dispose();
  }
}

describe('GGUF export, loaded by llama.cpp', () => {
  let llama: Llama;

  before(async () => {
    llama = await loadLlamaCpp();
  });

  after(async () => {
    await llama?.dispose();
  });

  async function assertSameGreedy(modelDir: string, dtype: GgufDType, adapterDir?: string, checkTokenizer = true, engineDType: WeightDType = 'f32'): Promise<void> {
    const config = readModelConfig(modelDir);
    const file = join(tempDir('gguf'), `model-${dtype}.gguf`);
    writeGguf(file, config, ModelWeights.open(modelDir, config), { dtype, adapter: adapterDir ? LoraAdapter.load(adapterDir, config) : null });
    for (const prompt of PROMPTS) {
      const ours = await engineGreedy(modelDir, prompt, adapterDir, engineDType);
      const theirs = await llamaCpp(llama, file, prompt, ours.ids);
      if (checkTokenizer) assert.deepEqual(theirs.tokens, ours.ids, `llama.cpp tokenizes ${JSON.stringify(prompt)} as the engine does`);
      assert.deepEqual(theirs.greedy, ours.greedy, `greedy tokens after ${JSON.stringify(prompt)}`);
    }
  }

  it('writes the bundled default model (Llama, tied embeddings) so that llama.cpp tokenizes and continues as the engine does', async () => {
    // The default model's weights are F16: an F16 file holds them exactly.
    await assertSameGreedy(join(repoRoot, 'models', 'default'), 'f16');
  });

  it('writes a Qwen2 model with q/k/v biases, and merges a LoRA adapter into it as PEFT does', async () => {
    const modelDir = makeModel('qwen2-tied-bias', { tokenizer: 'qwen' }, { vocab_size: 151_669, hidden_size: 64, num_attention_heads: 4 });
    const config = readModelConfig(modelDir);
    // An adapter that changes the model: B drawn at random (a fresh one's B is zero).
    const adapter = LoraAdapter.create(config, { rank: 4, alpha: 8, seed: 3 });
    const random = seededRandom(7);
    for (const module of adapter.modules.values()) module.b.forEach((_, i) => (module.b[i] = (random() - 0.5) * 0.5));
    const adapterDir = tempDir('gguf-adapter');
    adapter.save(adapterDir);
    const base = await engineGreedy(modelDir, PROMPTS[0]);
    const adapted = await engineGreedy(modelDir, PROMPTS[0], adapterDir);
    assert.notDeepEqual(adapted.greedy, base.greedy, 'the adapter changes what the model writes');
    await assertSameGreedy(modelDir, 'f32', adapterDir);
  });

  it('writes Q4_0 blocks that llama.cpp reads as the engine reads its own 4-bit weights', async () => {
    // The same levels on both sides (only the scale's precision differs: F16 there, F32 here).
    await assertSameGreedy(join(repoRoot, 'models', 'default'), 'q4_0', undefined, false, 'q4');
  });

  it('permutes Llama q/k rows from halves to interleaved pairs, head by head', () => {
    // One head of dimension 4, rows of length 1: [a b | c d] becomes [a c b d].
    assert.deepEqual([...interleaveRopeRows(Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2, 1)], [1, 3, 2, 4, 5, 7, 6, 8]);
  });

  it('refuses a tokenizer it cannot express, with the reason, and leaves no file', () => {
    const modelDir = makeModel('llama-gqa-untied');
    const config = readModelConfig(modelDir);
    const tokenizer = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8'));
    writeFileSync(join(modelDir, 'tokenizer.json'), JSON.stringify({ ...tokenizer, model: { type: 'Unigram', vocab: [] } }));
    const dir = tempDir('gguf');
    assert.throws(() => writeGguf(join(dir, 'm.gguf'), config, ModelWeights.open(modelDir, config)), (error: Error) => error instanceof GgufError && /byte-level BPE/.test(error.message));
    assert.deepEqual(readdirSync(dir), []);
  });
});
