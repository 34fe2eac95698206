import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LoraAdapter } from '../model/lora';
import { isEstimatorName } from '../gapo/advantages';
import { isMetricName, metrics } from '../gapo/reward';
import { gapoRun } from '../gapo/gapo-run';
import { defaultAdamW } from '../trainer/adamw';
import { PolicyTrainer } from '../trainer/trainer';
import { defaultPolicyLoss } from '../trainer/training-graphs';
import { defaultGapoSettings } from '../gapo/gapo-settings';
import { Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, nonNegativeNumber, positiveInteger, positiveNumber } from './engine-options';
import { ProgressBar } from './progress';
import { readEpisodes } from '../edits/episode';

const D = defaultGapoSettings;
/** An offline run has the machine to itself: more steps, and more sequences per forward than beside an editor. */
const CLI_STEPS = 10;
const CLI_MICRO_BATCH = 4;

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a LoRA adapter on edit episodes with GAPO (or GRPO, Dr. GRPO)',
  usage: `gapo train --model DIR --episodes FILE.jsonl [--adapter-out DIR] [--estimator gapo|grpo|drgrpo]
                 [--group ${D.group}] [--prompts-per-step ${D.promptsPerStep}] [--steps ${CLI_STEPS}] [--lr ${D.learningRate}] [--rank ${D.rank}]
                 [--alpha ${D.alpha}] [--reward edem|em|edit|bleu] [--max-tokens ${D.maxTokens}] [--epochs 1]
                 [--micro-batch ${CLI_MICRO_BATCH}] [--warmup 0] [--kl 0] [--tau ${D.tau}] [--temperature ${D.temperature}] [--seed ${D.seed}] [--guided] [--json]

The defaults are the language server's (gapo/gapo-settings.ts), but for two: a run here is
offline, so it takes more steps, and more sequences per forward (faster, more memory).

Each step samples G rewrites for each of a batch of episodes with the current adapter, scores
them against what the author wrote, computes advantages and updates the adapter (PPO-clip,
bounds 0.2/0.28, AdamW). Per-step metrics go to stderr (JSON lines on stdout with --json); the
adapter is saved in PEFT's layout after every step, atomically. --adapter DIR starts from an
existing adapter (and is where it is saved unless --adapter-out is given).

  --kl C          k3 KL to the base model with coefficient C (0.01 is usual; default 0: off)
  --micro-batch N sequences per forward/backward; gradients accumulate over the batch
  --epochs N      PPO epochs (optimizer steps) over each batch of rollouts
  --warmup N      steps of linear learning-rate warm-up
  --guided        the author's own edit joins each group as one of the G (an off-policy
                  demonstration with its reward)

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        ...engineOptionSpecs,
        episodes: { type: 'string' },
        'adapter-out': { type: 'string' },
        estimator: { type: 'string', default: D.estimator },
        group: { type: 'string', default: String(D.group) },
        'prompts-per-step': { type: 'string', default: String(D.promptsPerStep) },
        steps: { type: 'string', default: String(CLI_STEPS) },
        lr: { type: 'string', default: String(D.learningRate) },
        rank: { type: 'string', default: String(D.rank) },
        alpha: { type: 'string', default: String(D.alpha) },
        reward: { type: 'string', default: 'edem' },
        'max-tokens': { type: 'string', default: String(D.maxTokens) },
        epochs: { type: 'string', default: '1' },
        'micro-batch': { type: 'string', default: String(CLI_MICRO_BATCH) },
        warmup: { type: 'string', default: '0' },
        kl: { type: 'string', default: '0' },
        tau: { type: 'string', default: String(D.tau) },
        temperature: { type: 'string', default: String(D.temperature) },
        seed: { type: 'string', default: String(D.seed) },
        guided: { type: 'boolean', default: D.guided },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.episodes) throw new UsageError('missing --episodes FILE.jsonl');
    const estimator = values.estimator;
    if (!isEstimatorName(estimator)) throw new UsageError(`unknown estimator "${estimator}" (choose gapo, grpo or drgrpo)`);
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
        estimator,
        tau,
        maxTokens: positiveInteger('--max-tokens', values['max-tokens']),
        temperature: nonNegativeNumber('--temperature', values.temperature),
        seed,
        reward,
        guided: values.guided,
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
