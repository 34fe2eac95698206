// One GAPO training run on edit episodes: the prompts shuffled with a seed, a batch per step,
// G rollouts per prompt scored against what the user wrote, the update, and a summary of the
// step. `gapo train` and the language server's training worker both run it.

import { trimContext } from '../edits/prompt';
import { asTyping, formatOf } from '../edits/prompt-format';
import type { Episode } from '../edits/episode';
import { seededRandom, shuffled } from '../edits/text';
import type { Engine } from '../model/engine';
import type { PolicyTrainer } from '../trainer/trainer';
import type { GapoSettings, PromptLimits, StepSummary } from '../protocol';
import { rolloutAndUpdate } from './rollout';

export interface RunPrompt {
  episode: Episode;
  /** The rewritten region the user was shown for this prompt, and the bonus its outcome earned. */
  shown?: { rewritten: string; bonus: number };
}

export type RunSettings = Pick<GapoSettings, 'steps' | 'promptsPerStep' | 'group' | 'estimator' | 'tau' | 'maxTokens' | 'temperature' | 'seed'> &
  Partial<Pick<GapoSettings, 'guided'>> & {
  /** The reward of a rewritten region against the target. */
  reward: (rewritten: string, target: string) => number;
  /** Context limits, as serving cuts its prompts; none: the whole episode. */
  prompt?: PromptLimits;
  /** Called before each prompt's sampling (the server's worker waits for suggestions here). */
  beforeEachPrompt?: () => void;
};

/** Runs the steps, yielding each one's summary once its update is done. */
export async function* gapoRun(engine: Engine, trainer: PolicyTrainer, prompts: RunPrompt[], s: RunSettings): AsyncGenerator<StepSummary> {
  const format = formatOf(engine.info.promptFormat);
  // An insertion format learns an edit as the user types it (what it removes deleted, the
  // cursor where the new text goes), except where the user was shown an answer: that prompt
  // stays as it was, so the shown answer joins its group.
  const tasks = prompts.map(({ episode, shown }) => ({ episode: format.name === 'edit' || shown ? episode : asTyping(episode), shown }));
  const order = shuffled(tasks, seededRandom(s.seed));
  const byId = new Map(tasks.map(({ episode }) => [episode.id, episode]));
  // The shown answer in the model's format; none when the format cannot say it.
  const shownCompletion = (episode: Episode, shown: RunPrompt['shown']) => {
    const completion = shown ? format.completion({ ...episode, target: shown.rewritten }) : null;
    return completion === null ? undefined : { completion, bonus: shown!.bonus };
  };
  for (let step = 0; step < s.steps; step++) {
    const batch = Array.from({ length: Math.min(s.promptsPerStep, order.length) }, (_, i) => order[(step * s.promptsPerStep + i) % order.length]);
    const result = await rolloutAndUpdate(
      engine,
      trainer,
      batch.map(({ episode, shown }) => ({
        id: episode.id,
        prompt: format.prompt(s.prompt ? trimContext(episode, s.prompt) : episode),
        groundTruth: episode.target,
        shown: shownCompletion(episode, shown),
        // The user's final edit, in the format (none when the format cannot say it).
        demonstration: s.guided ? (format.completion(episode) ?? undefined) : undefined,
      })),
      {
        group: s.group,
        estimator: s.estimator,
        estimatorOptions: { tau: s.tau },
        maxTokens: s.maxTokens,
        temperature: s.temperature,
        stop: format.stop,
        seed: s.seed * 1000 + step,
        reward: (prediction, target, id) => s.reward(format.rewrite(byId.get(id)!, prediction), target),
        beforeEachPrompt: s.beforeEachPrompt,
      },
    );
    const last = result.metrics[result.metrics.length - 1];
    yield {
      step: step + 1,
      reward: result.meanReward,
      loss: last.loss,
      gradNorm: last.gradNorm,
      clipLow: last.clipLow,
      clipHigh: last.clipHigh,
      approxKl: last.approxKl,
      entropy: last.entropy,
      skipped: result.metrics.filter((m) => m.skipped).length,
      rolloutS: result.rolloutMs / 1000,
      updateS: result.updateMs / 1000,
      tokens: result.responseTokens,
      groups: result.groups.map((g) => ({ id: g.id, rewards: g.rewards, mean: g.stats.mean, q: g.stats.q, interval: [g.stats.interval.low, g.stats.interval.high] })),
    };
  }
}
