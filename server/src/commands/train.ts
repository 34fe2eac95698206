import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LoraAdapter } from '../model/lora';
import { isEstimatorName } from '../rl/advantages';
import { isMetricName, metrics } from '../rl/reward';
import { gapoRun } from '../rl/gapo-run';
import { defaultAdamW } from '../train/adamw';
import { PolicyTrainer } from '../train/trainer';
import { defaultPolicyLoss } from '../train/training-graphs';
import { Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, nonNegativeNumber, positiveInteger, positiveNumber } from './engine-options';
import { ProgressBar } from './progress';
import { readEpisodes } from '../edits/episode';

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a LoRA adapter on edit episodes with GAPO (or GRPO, Dr. GRPO)',
  usage: `gapo train --model DIR --episodes FILE.jsonl [--adapter-out DIR] [--estimator gapo|grpo|drgrpo]
                 [--group 8] [--prompts-per-step 16] [--steps 10] [--lr 1e-5] [--rank 16]
                 [--alpha 32] [--reward edem|em|edit|bleu] [--max-tokens 128] [--epochs 1]
                 [--micro-batch 4] [--warmup 0] [--kl 0] [--tau 0.5] [--temperature 1] [--seed 0] [--json]

Each step samples G rewrites for each of a batch of episodes with the current adapter, scores
them against what the author wrote, computes advantages and updates the adapter (PPO-clip,
bounds 0.2/0.28, AdamW). Per-step metrics go to stderr (JSON lines on stdout with --json); the
adapter is saved in PEFT's layout after every step, atomically. --adapter DIR starts from an
existing adapter (and is where it is saved unless --adapter-out is given).

  --kl C          k3 KL to the base model with coefficient C (0.01 is usual; default 0: off)
  --micro-batch N sequences per forward/backward; gradients accumulate over the batch
  --epochs N      PPO epochs (optimizer steps) over each batch of rollouts
  --warmup N      steps of linear learning-rate warm-up

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        ...engineOptionSpecs,
        episodes: { type: 'string' },
        'adapter-out': { type: 'string' },
        estimator: { type: 'string', default: 'gapo' },
        group: { type: 'string', default: '8' },
        'prompts-per-step': { type: 'string', default: '16' },
        steps: { type: 'string', default: '10' },
        lr: { type: 'string', default: String(defaultAdamW.learningRate) },
        rank: { type: 'string', default: '16' },
        alpha: { type: 'string', default: '32' },
        reward: { type: 'string', default: 'edem' },
        'max-tokens': { type: 'string', default: '128' },
        epochs: { type: 'string', default: '1' },
        'micro-batch': { type: 'string', default: '4' },
        warmup: { type: 'string', default: '0' },
        kl: { type: 'string', default: '0' },
        tau: { type: 'string', default: '0.5' },
        temperature: { type: 'string', default: '1' },
        seed: { type: 'string', default: '0' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.episodes) throw new UsageError('missing --episodes FILE.jsonl');
    if (!isEstimatorName(values.estimator)) throw new UsageError(`unknown estimator "${values.estimator}" (choose gapo, grpo or drgrpo)`);
    if (!isMetricName(values.reward)) throw new UsageError(`unknown reward "${values.reward}" (choose edem, em, edit or bleu)`);
    const out = values['adapter-out'] ?? values.adapter;
    if (!out) throw new UsageError('give --adapter-out DIR (or --adapter DIR to continue an adapter)');
    const group = positiveInteger('--group', values.group);
    const promptsPerStep = positiveInteger('--prompts-per-step', values['prompts-per-step']);
    const steps = positiveInteger('--steps', values.steps);
    const tau = positiveNumber('--tau', values.tau);
    const seed = Math.floor(nonNegativeNumber('--seed', values.seed));
    const reward = metrics[values.reward];
    let episodes;
    try {
      episodes = readEpisodes(values.episodes);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }

    const engine = await loadEngine(values, io);
    try {
      const adapter = values.adapter && existsSync(values.adapter)
        ? engine.currentAdapter!.clone()
        : LoraAdapter.create(engine.config, { rank: positiveInteger('--rank', values.rank), alpha: positiveNumber('--alpha', values.alpha), seed });
      const trainer = await PolicyTrainer.create({ config: engine.config, layout: engine.weightLayout, sessionOptions: engine.sessionOptions }, adapter, {
        optimizer: { ...defaultAdamW, learningRate: positiveNumber('--lr', values.lr), warmupSteps: Math.floor(nonNegativeNumber('--warmup', values.warmup)) },
        epochs: positiveInteger('--epochs', values.epochs),
        microBatchSize: positiveInteger('--micro-batch', values['micro-batch']),
        loss: { ...defaultPolicyLoss, klCoef: nonNegativeNumber('--kl', values.kl) },
      });
      io.stderr(`training a rank-${adapter.rank} LoRA (${(adapter.parameterCount() / 1e6).toFixed(2)}M parameters) on ${episodes.length} episodes with ${values.estimator}, G = ${group}\n`);
      const progress = new ProgressBar(steps, io.stderr);
      const run = gapoRun(engine, trainer, episodes.map((episode) => ({ episode })), {
        steps,
        promptsPerStep,
        group,
        estimator: values.estimator,
        tau,
        maxTokens: positiveInteger('--max-tokens', values['max-tokens']),
        temperature: nonNegativeNumber('--temperature', values.temperature),
        seed,
        reward,
      });
      for await (const summary of run) {
        adapter.save(out, engine.info.modelDir);
        const { groups, ...metrics } = summary;
        if (values.json) io.stdout(JSON.stringify({ ...metrics, groups: groups.map(({ id, rewards, mean, q }) => ({ id, rewards, mean, q })) }) + '\n');
        const text = `step ${summary.step}: reward ${summary.reward.toFixed(3)} loss ${summary.loss.toFixed(4)} grad ${summary.gradNorm.toFixed(3)} clip ${(100 * (summary.clipLow ?? 0)).toFixed(1)}%/${(100 * (summary.clipHigh ?? 0)).toFixed(1)}% entropy ${(summary.entropy ?? 0).toFixed(2)} (${summary.rolloutS.toFixed(1)}s rollout, ${summary.updateS.toFixed(1)}s update)${summary.skipped ? ` SKIPPED ${summary.skipped} (non-finite)` : ''}`;
        progress.line(text);
        progress.update(summary.step, `reward ${summary.reward.toFixed(3)}`);
      }
      progress.done();
      io.stderr(`saved the adapter to ${out}\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
