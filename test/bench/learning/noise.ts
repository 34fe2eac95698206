// The noise the learning benchmark trains under, as it arises in an editor:
// - flips: the user's verdict on a shown suggestion (accepted, typed over) recorded the wrong
//   way round, as `gapo replay --noise P` does;
// - outliers: a share of the rollouts' rewards replaced by an extreme value (a skewed tail);
// - half-finished targets: a share of the episodes whose target is the edit half typed, what a
//   settle that fires too early stores.
// Every draw comes from a seeded stream, so each arm sees the same noise.

import { ACCEPT_BONUS, TYPED_OVER_BONUS } from '../../../server/src/gapo/reward';
import type { Episode } from '../../../server/src/edits/episode';
import { seededRandom } from '../../../server/src/edits/text';
import { nextKeystroke, remainingWork } from '../../../server/src/replay/typing';

export type NoiseKind = 'clean' | 'flips' | 'outliers' | 'half-finished';

export interface Noise {
  kind: NoiseKind;
  /** The share affected: verdicts flipped, rewards replaced, targets cut. */
  level: number;
}

export const cleanNoise: Noise = { kind: 'clean', level: 0 };

export function noiseName({ kind, level }: Noise): string {
  return kind === 'clean' ? 'clean' : `${kind} ${level}`;
}

/** The value an outlier reward takes: far above what any rewrite can score (edem ≤ 1, a kept accept 1.75). */
export const OUTLIER_REWARD = 3;

/**
 * Whether the simulated user accepts a shown rewrite: when it leaves less to type and nothing
 * more to delete on the way to the target (the typing replay's rule).
 */
export function helps(region: string, rewritten: string, target: string): boolean {
  const before = remainingWork(region, target);
  const after = remainingWork(rewritten, target);
  return after.insert < before.insert && after.delete <= before.delete;
}

/** The outcome bonus of a shown rewrite: kept when it helps, typed over when not; flipped with probability `flip`. */
export function shownBonus(accepted: boolean, flip: number, random: () => number): number {
  const recorded = random() < flip ? !accepted : accepted;
  return recorded ? ACCEPT_BONUS : TYPED_OVER_BONUS;
}

/** The text after typing `share` of the characters the edit inserts (deletions at once), as the typing user would. */
export function partlyTyped(region: string, target: string, share: number): string {
  const goal = Math.floor(remainingWork(region, target).insert * share);
  let text = region;
  let typed = 0;
  for (;;) {
    const step = nextKeystroke(text, target);
    if (!step) return text;
    if (step.kind === 'delete') text = text.slice(0, step.start) + text.slice(step.end);
    else {
      if (typed >= goal) return text;
      text = text.slice(0, step.at) + step.char + text.slice(step.at);
      typed++;
    }
  }
}

/** The training episodes under the noise: with half-finished targets, a seeded share of them cut halfway. */
export function noisyEpisodes(episodes: readonly Episode[], noise: Noise, seed: number): Episode[] {
  if (noise.kind !== 'half-finished') return [...episodes];
  const random = seededRandom(seed * 7919 + 1);
  return episodes.map((e) => (random() < noise.level ? { ...e, target: partlyTyped(e.region, e.target, 0.5) } : e));
}

/** The reward under the noise: with outliers, a seeded share of the rollouts' rewards replaced by OUTLIER_REWARD. */
export function noisyReward(reward: (rewritten: string, target: string) => number, noise: Noise, seed: number): (rewritten: string, target: string) => number {
  if (noise.kind !== 'outliers') return reward;
  const random = seededRandom(seed * 104729 + 2);
  return (rewritten, target) => (random() < noise.level ? OUTLIER_REWARD : reward(rewritten, target));
}
