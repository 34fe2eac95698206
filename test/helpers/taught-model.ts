// A small model taught (full-weight cross-entropy, the project's own trainer) to answer given
// prompts with given completions, so language-server tests get a real model that suggests
// exactly what the test expects.

import { join } from 'node:path';
import { Engine } from '../../server/src/model/engine';
import { writeSafetensors } from '../../server/src/model/safetensors';
import { ModelWeights } from '../../server/src/model/weights';
import { defaultAdamW } from '../../server/src/trainer/adamw';
import { CrossEntropyTrainer } from '../../server/src/trainer/trainer';
import { makeModel, tempDir } from './models';

export interface Lesson {
  prompt: string;
  completion: string;
}

/**
 * Returns a model directory whose greedy answer to each lesson's prompt (cut as the engine
 * cuts it for `maxTokens`) is the lesson's completion. Throws if it does not learn them.
 */
export async function makeTaughtModel(lessons: Lesson[], maxTokens: number, cacheDir = tempDir('taught-cache')): Promise<string> {
  const modelDir = makeModel('qwen2-tied-bias', { seed: 3 }, { hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 512 });
  const engine = await Engine.load({ modelDir, cacheDir, threads: 1 });
  const weights = ModelWeights.open(modelDir, engine.config);
  const values = new Map(weights.specs.map((s) => [s.name, weights.read(s.name)]));
  const trainer = await CrossEntropyTrainer.create(
    { config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions },
    { kind: 'full', weights: values },
    { microBatchSize: lessons.length, optimizer: { ...defaultAdamW, learningRate: 3e-3, weightDecay: 0 } },
  );
  const sequences = lessons.map((lesson) => {
    const prompt = engine.fitPrompt(lesson.prompt, maxTokens);
    return { ids: [...prompt, ...engine.tokenizer.encode(lesson.completion)], promptLength: prompt.length };
  });
  let loss = Infinity;
  for (let step = 0; step < 400 && loss > 0.01; step++) loss = (await trainer.train(sequences)).loss;
  await engine.dispose();
  writeSafetensors(
    join(modelDir, 'model.safetensors'),
    weights.specs.map((s) => ({ name: s.name, shape: s.shape, data: values.get(s.name)! })),
  );
  const check = await Engine.load({ modelDir, cacheDir, threads: 1 });
  try {
    for (const lesson of lessons) {
      const [generation] = await check.generate(lesson.prompt, { maxTokens: lesson.completion.length + 2 });
      // An end token in the completion ends the generation and is not part of its text.
      const expected = check.tokenizer.decode(check.tokenizer.encode(lesson.completion));
      if (!generation.text.startsWith(expected)) throw new Error(`the model did not learn its lesson (loss ${loss}): ${JSON.stringify(generation.text)}`);
    }
  } finally {
    await check.dispose();
  }
  return modelDir;
}
