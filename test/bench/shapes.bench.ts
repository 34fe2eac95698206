// The default model's shape, chosen by measurement: next-token training throughput of each
// `code-*` preset with the project's own trainer (full-weight cross-entropy, 8 × 512-token
// windows, as `gapo pretrain` runs it), alternating the shapes over three rounds; and what the
// trainer achieves in GFLOP/s against ONNX Runtime's MatMul roof measured in the same process.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Engine } from '../../server/src/model/engine';
import { initModel } from '../../server/src/model/init-model';
import { parseModelConfig } from '../../server/src/model/config';
import { presets } from '../../server/src/model/presets';
import { ModelWeights } from '../../server/src/model/weights';
import { defaultAdamW } from '../../server/src/trainer/adamw';
import { CrossEntropyTrainer } from '../../server/src/trainer/trainer';
import { seededRandom } from '../../server/src/edits/text';
import { tempDir } from '../helpers/models';
import { forwardFlops, measureRoofs } from './engine.bench';
import { table } from './timing';

const SHAPES = ['code-3m', 'code-6m', 'code-12m'];
const BATCH = 8;
const SEQUENCE = 512;

export async function benchShapes(): Promise<void> {
  const trainers = [];
  for (const shape of SHAPES) {
    const dir = tempDir(`shape-${shape}`);
    const config = parseModelConfig(presets[shape], shape);
    // A byte tokenizer stands in for the trained one: the vocabulary size is what costs.
    initModel(config, dir, { seed: 1, init: 'training' });
    const engine = await Engine.load({ modelDir: dir, cacheDir: join(dir, 'cache') });
    const weights = ModelWeights.open(dir, engine.config);
    const values = new Map(weights.specs.map((s) => [s.name, weights.read(s.name)]));
    const parameters = [...values.values()].reduce((sum, v) => sum + v.length, 0);
    const threads = engine.sessionOptions.intraOpNumThreads ?? 2;
    const trainer = await CrossEntropyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, { kind: 'full', weights: values }, { microBatchSize: BATCH, optimizer: { ...defaultAdamW, learningRate: 1e-3 } });
    await engine.dispose();
    // A full-weight step: the forward and a backward to activations and to weights (about twice the forward).
    const flops = 3 * forwardFlops(engine.config, parameters, { tokens: BATCH * SEQUENCE, sequences: BATCH, length: SEQUENCE });
    trainers.push({ shape, parameters, threads, flops, trainer, seconds: [] as number[] });
  }
  const random = seededRandom(1);
  const batch = () => Array.from({ length: BATCH }, () => ({ ids: Array.from({ length: SEQUENCE }, () => Math.floor(random() * 8000)), promptLength: 1 }));
  for (const t of trainers) await t.trainer.train(batch()); // warm-up
  for (let round = 0; round < 3; round++) {
    for (const t of trainers) {
      const start = performance.now();
      await t.trainer.train(batch());
      t.seconds.push((performance.now() - start) / 1000);
    }
  }
  const roof = (await measureRoofs(trainers[0].threads)).gflops;
  table(
    trainers.map((t) => {
      const median = [...t.seconds].sort((a, b) => a - b)[1];
      const tokensPerSecond = (BATCH * (SEQUENCE - 1)) / median;
      return {
        shape: t.shape,
        parameters: `${(t.parameters / 1e6).toFixed(2)}M`,
        'step s': median.toFixed(2),
        'tokens/s': Math.round(tokensPerSecond),
        'tokens in 2 h': `${((tokensPerSecond * 7200) / 1e6).toFixed(1)}M`,
        'tokens per parameter': ((tokensPerSecond * 7200) / t.parameters).toFixed(1),
        'GFLOP/s': (t.flops / median / 1e9).toFixed(1),
        '% of MatMul roof': `${((100 * t.flops) / median / 1e9 / roof).toFixed(0)}%`,
      };
    }),
  );
  console.log(`\nfull-weight training steps of ${BATCH} × ${SEQUENCE} tokens (median of 3, shapes alternating); Chinchilla's compute-optimal budget is about 20 tokens per parameter`);
  console.log(`ONNX Runtime's MatMul roof here: ${roof.toFixed(0)} GFLOP/s (a 2048² MatMul on ${trainers[0].threads} threads); a step's FLOPs: 3 × the forward's (the backward to activations and to weights)`);
}
