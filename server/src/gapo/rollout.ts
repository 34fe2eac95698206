// One step of group-relative RL: sample G rollouts per prompt with the current policy, score
// them against the ground truth, turn the rewards into advantages with the chosen estimator,
// and update the adapter. The unit that "Train Now", `gapo train` and the benchmarks run.

import { performance } from 'node:perf_hooks';
import { defaultGapoSettings } from './gapo-settings';
import { Engine } from '../model/engine';
import { PolicyTrainer, StepMetrics, TrainingSequence } from '../trainer/trainer';
import { computeAdvantages, EstimatorOptions, GroupStats, groupStats } from './advantages';
import type { EstimatorName } from '../protocol';

export interface RolloutPrompt {
  id: string;
  prompt: string | number[];
  groundTruth: string;
  /**
   * The completion the user was shown for this prompt, if any: it joins the group as one of
   * the G rollouts, its reward raised or lowered by what the user did with it.
   */
  shown?: { completion: string; bonus: number };
  /**
   * What the user finally wrote, as a completion: it joins the group as one of the G (an
   * off-policy demonstration with its reward, as LUFFY mixes them into GRPO's groups), so a
   * group in which no sample is right still has a right answer to move towards.
   */
  demonstration?: string;
}

export interface RolloutOptions {
  /** Rollouts per prompt (G). */
  group: number;
  estimator: EstimatorName;
  estimatorOptions: Partial<EstimatorOptions>;
  /** The reward of a rollout of prompt `id` (a prompt format may need the episode to read it). */
  reward: (prediction: string, groundTruth: string, id: string) => number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  seed: number;
  /** Called before each prompt's sampling: the language server's trainer waits here while suggestions run. */
  beforeEachPrompt?: () => void;
}

export const defaultRolloutOptions: Omit<RolloutOptions, 'reward'> = {
  group: defaultGapoSettings.group,
  estimator: defaultGapoSettings.estimator,
  estimatorOptions: {},
  maxTokens: defaultGapoSettings.maxTokens,
  temperature: defaultGapoSettings.temperature,
  topP: 1,
  stop: [],
  seed: defaultGapoSettings.seed,
};

export interface GroupReport {
  id: string;
  rewards: number[];
  advantages: number[];
  stats: GroupStats;
  samples: string[];
}

export interface RolloutStep {
  groups: GroupReport[];
  metrics: StepMetrics[];
  meanReward: number;
  rolloutMs: number;
  updateMs: number;
  responseTokens: number;
}

export async function rolloutAndUpdate(
  engine: Engine,
  trainer: PolicyTrainer,
  prompts: RolloutPrompt[],
  options: Partial<RolloutOptions> & Pick<RolloutOptions, 'reward'>,
): Promise<RolloutStep> {
  const o = { ...defaultRolloutOptions, ...options };
  engine.setAdapter(trainer.adapter);
  const rolloutStart = performance.now();
  const sequences: TrainingSequence[][] = [];
  const samples: string[][] = [];
  const rewards: number[][] = [];
  for (const [index, p] of prompts.entries()) {
    o.beforeEachPrompt?.();
    // The members not sampled: the completion the user was shown (its reward raised or lowered
    // by its outcome) and the user's own final edit. Either may be longer than a sampled one: the
    // prompt is cut (as serving cuts it) to leave room for the longest. One that fills the
    // context alone is left out.
    const offPolicy = [
      ...(p.shown ? [{ completion: p.shown.completion, bonus: p.shown.bonus }] : []),
      ...(p.demonstration !== undefined ? [{ completion: p.demonstration, bonus: 0 }] : []),
    ]
      .map((member) => ({ ...member, ids: engine.tokenizer.encode(member.completion) }))
      .filter((member) => member.ids.length < engine.config.maxPositions);
    const promptIds = engine.fitPrompt(p.prompt, Math.max(o.maxTokens, ...offPolicy.map((m) => m.ids.length)));
    const generations = await engine.generate(promptIds, {
      samples: Math.max(1, o.group - offPolicy.length),
      maxTokens: o.maxTokens,
      temperature: o.temperature,
      topP: o.topP,
      stop: o.stop,
      seed: o.seed * 100003 + index,
    });
    samples.push(generations.map((gen) => gen.text));
    rewards.push(generations.map((gen) => o.reward(gen.text, p.groundTruth, p.id)));
    // The response the policy is trained on includes the end token when it chose to stop.
    const group: TrainingSequence[] = generations.map((gen) => ({
      ids: [...promptIds, ...gen.tokens, ...(gen.eos ? [gen.eos.token] : [])],
      promptLength: promptIds.length,
      oldLogprobs: [...gen.logprobs, ...(gen.eos ? [gen.eos.logprob] : [])],
    }));
    // Off-policy: their old log-probs are the current policy's (scored together), so their first ratio is 1.
    const offPolicyIds = offPolicy.map((member) => [...promptIds, ...member.ids]);
    const scores = offPolicy.length ? await engine.score(offPolicyIds.map((ids) => ({ ids, start: promptIds.length }))) : [];
    offPolicy.forEach((member, i) => {
      group.push({ ids: offPolicyIds[i], promptLength: promptIds.length, oldLogprobs: scores[i].logprobs });
      samples[samples.length - 1].push(member.completion);
      rewards[rewards.length - 1].push(o.reward(member.completion, p.groundTruth, p.id) + member.bonus);
    });
    sequences.push(group);
  }
  const flat = sequences.flat();
  if (o.temperature !== 1) {
    // Sampling logprobs were taken at temperature 1 only by construction when T = 1; otherwise
    // score the rollouts under the policy itself.
    const scores = await engine.score(flat.map((s) => ({ ids: s.ids, start: s.promptLength })));
    flat.forEach((s, i) => (s.oldLogprobs = scores[i].logprobs));
  }
  if (trainer.options.loss.klCoef > 0) {
    const reference = await engine.score(flat.map((s) => ({ ids: s.ids, start: s.promptLength })), { adapter: false });
    flat.forEach((s, i) => (s.refLogprobs = reference[i].logprobs));
  }
  const rolloutMs = performance.now() - rolloutStart;

  const advantages = computeAdvantages(rewards, o.estimator, o.estimatorOptions, prompts.map((p) => p.id));
  sequences.forEach((group, g) => group.forEach((s, i) => (s.advantage = advantages[g][i])));
  const updateStart = performance.now();
  const metrics = await trainer.train(flat);
  const updateMs = performance.now() - updateStart;
  engine.setAdapter(trainer.adapter); // new weights: the cached prefix is stale

  const allRewards = rewards.flat();
  return {
    groups: prompts.map((p, g) => ({ id: p.id, rewards: rewards[g], advantages: advantages[g], stats: groupStats(rewards[g], o.estimatorOptions), samples: samples[g] })),
    metrics,
    meanReward: allRewards.reduce((a, b) => a + b, 0) / allRewards.length,
    rolloutMs,
    updateMs,
    responseTokens: flat.reduce((sum, s) => sum + s.ids.length - s.promptLength, 0),
  };
}
