import '../server/src/no-telemetry';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../server/src/model/engine';
import { initModel } from '../server/src/model/init-model';
import { parseModelConfig } from '../server/src/model/config';
import { ModelWeights } from '../server/src/model/weights';
import { defaultAdamW } from '../server/src/train/adamw';
import { CrossEntropyTrainer } from '../server/src/train/trainer';

const shapes: Record<string, any> = {
  s: { hidden_size: 192, intermediate_size: 512, num_hidden_layers: 4, num_attention_heads: 3, num_key_value_heads: 1 },
  m: { hidden_size: 256, intermediate_size: 704, num_hidden_layers: 6, num_attention_heads: 4, num_key_value_heads: 2 },
  l: { hidden_size: 384, intermediate_size: 1024, num_hidden_layers: 6, num_attention_heads: 6, num_key_value_heads: 2 },
};
async function main() {
  const name = process.argv[2]; const seq = Number(process.argv[3] ?? 256); const batch = Number(process.argv[4] ?? 8); const mb = Number(process.argv[5] ?? batch);
  const dir = `/tmp/timing-${name}`;
  const config = parseModelConfig({ architectures: ['LlamaForCausalLM'], vocab_size: 8192, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 1024, tie_word_embeddings: true, ...shapes[name] });
  initModel(config, dir, { seed: 1 });
  const engine = await Engine.load({ modelDir: dir, cacheDir: '/tmp/timing-cache', threads: 2 });
  const weights = ModelWeights.open(dir, engine.config);
  const values = new Map(weights.specs.map((s) => [s.name, weights.read(s.name)]));
  const params = [...values.values()].reduce((a, v) => a + v.length, 0);
  const trainer = await CrossEntropyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, { kind: 'full', weights: values }, { microBatchSize: mb, optimizer: { ...defaultAdamW, learningRate: 1e-3 } });
  let r = 1;
  const rand = () => (r = (r * 16807) % 2147483647) % 8000;
  for (let step = 0; step < 4; step++) {
    const seqs = Array.from({ length: batch }, () => ({ ids: Array.from({ length: seq }, rand), promptLength: 1 }));
    const t = performance.now();
    const m = await trainer.train(seqs);
    const ms = performance.now() - t;
    console.log(name, `params ${(params / 1e6).toFixed(2)}M`, `step ${ms.toFixed(0)} ms`, `${((batch * seq) / ms * 1000).toFixed(0)} tok/s`, `loss ${m.loss.toFixed(3)}`, `rss ${(process.memoryUsage().rss / 1e9).toFixed(2)}GB`);
  }
}
main();
