// Advantage estimators for group-relative policy optimisation.
//
// Every estimator has one signature, (rewards of one prompt's group, options) => advantages,
// and lives in one registry, as verl's core_algos.py keeps them: a new estimator is a dozen
// lines and one registry entry.

import type { EstimatorName } from '../protocol';
import { RewardError } from './reward';

export const EPSILON = 1e-6;

export interface EstimatorOptions {
  /** GAPO: the share of the group the highest-density interval must hold. */
  tau: number;
  /** GAPO: the group's reference point is the interval's median (the paper) or its mean. */
  q: 'median' | 'mean';
  /** Divide by the spread around the reference point (GRPO's std, GAPO's RMS deviation). */
  scale: boolean;
  epsilon: number;
}

export const defaultEstimatorOptions: EstimatorOptions = {
  tau: 0.5,
  q: 'median',
  scale: true,
  epsilon: EPSILON,
};

export type AdvantageEstimator = (rewards: readonly number[], options: EstimatorOptions) => number[];

/** GRPO: (r − mean) / (unbiased std + ε), as verl computes it. */
function grpo(rewards: readonly number[], options: EstimatorOptions): number[] {
  const center = mean(rewards);
  const std = Math.sqrt(sumOfSquaredDeviations(rewards, center) / (rewards.length - 1));
  return rewards.map((r) => (r - center) / (std + options.epsilon));
}

/** Dr. GRPO: r − mean, no std scaling (removes the difficulty bias of dividing by std). */
function drgrpo(rewards: readonly number[]): number[] {
  const center = mean(rewards);
  return rewards.map((r) => r - center);
}

/**
 * GAPO: the reference point is the median (or mean) of the highest-density interval, the
 * shortest window holding ceil(G·τ) of the sorted rewards, so a skewed tail or an outlier
 * does not drag it; the scale is the RMS deviation from that point.
 */
function gapo(rewards: readonly number[], options: EstimatorOptions): number[] {
  const center = gapoReference(rewards, options.tau, options.q);
  if (!options.scale) return rewards.map((r) => r - center);
  const spread = Math.sqrt(sumOfSquaredDeviations(rewards, center) / (rewards.length - 1));
  return rewards.map((r) => (r - center) / (spread + options.epsilon));
}

export const estimators = {
  grpo,
  drgrpo,
  gapo,
} satisfies Record<EstimatorName, AdvantageEstimator>;

export function isEstimatorName(name: string): name is EstimatorName {
  return Object.hasOwn(estimators, name);
}

/**
 * Advantages for a batch of groups, one group of rollout rewards per prompt.
 * `promptIds` name the prompts in errors; by default a prompt is named by its index.
 */
export function computeAdvantages(
  groups: readonly (readonly number[])[],
  estimator: EstimatorName = 'gapo',
  options: Partial<EstimatorOptions> = {},
  promptIds?: readonly string[],
): number[][] {
  const resolved = resolveOptions(options);
  const estimate: AdvantageEstimator = estimators[estimator];
  return groups.map((rewards, index) => {
    checkRewards(rewards, promptIds?.[index] ?? `#${index}`);
    // One rollout has nothing to be compared with; equal rewards carry no signal. Both give
    // exact zeros here rather than relying on ε, which rounding could turn into tiny noise.
    // Stryker disable next-line ConditionalExpression: equivalent, a group of one is constant
    if (rewards.length < 2 || isConstant(rewards)) return rewards.map(() => 0);
    return estimate(rewards, resolved);
  });
}

export function resolveOptions(options: Partial<EstimatorOptions>): EstimatorOptions {
  const resolved = { ...defaultEstimatorOptions, ...stripUndefined(options) };
  if (!(resolved.tau > 0 && resolved.tau <= 1)) {
    throw new RangeError(`tau must be in (0, 1], got ${resolved.tau}`);
  }
  if (resolved.q !== 'median' && resolved.q !== 'mean') {
    throw new RangeError(`q must be "median" or "mean", got ${String(resolved.q)}`);
  }
  if (!(resolved.epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${resolved.epsilon}`);
  return resolved;
}

function checkRewards(rewards: readonly number[], prompt: string): void {
  if (!Array.isArray(rewards)) throw new RewardError(`prompt ${prompt}: rewards must be an array`);
  if (rewards.length === 0) throw new RewardError(`prompt ${prompt}: the group has no rewards`);
  rewards.forEach((r, i) => {
    // Stryker disable next-line ConditionalExpression: equivalent, Number.isFinite is false for every non-number
    if (typeof r !== 'number' || !Number.isFinite(r)) {
      throw new RewardError(`prompt ${prompt}: reward ${i} is not a finite number (${String(r)})`);
    }
  });
}

export interface Interval {
  /** Index of the window's first value in the sorted rewards. */
  start: number;
  /** Number of values the window holds: ceil(G·τ), at least 1. */
  size: number;
  low: number;
  high: number;
}

/**
 * The highest-density interval of a group: the shortest window of ceil(G·τ) consecutive
 * sorted rewards, the first such window on ties.
 */
export function highestDensityInterval(sorted: readonly number[], tau: number): Interval {
  const size = Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * tau)));
  let start = 0;
  // Stryker disable next-line ArithmeticOperator: equivalent, windows past the end compare as NaN and never win
  for (let i = 1; i + size <= sorted.length; i++) {
    if (sorted[i + size - 1] - sorted[i] < sorted[start + size - 1] - sorted[start]) start = i;
  }
  return { start, size, low: sorted[start], high: sorted[start + size - 1] };
}

/** GAPO's reference point Q: the median (or mean) of the highest-density interval. */
export function gapoReference(rewards: readonly number[], tau: number, q: 'median' | 'mean'): number {
  const sorted = sortNumbers(rewards);
  return intervalCenter(sorted, highestDensityInterval(sorted, tau), q);
}

function intervalCenter(sorted: readonly number[], { start, size }: Interval, q: 'median' | 'mean'): number {
  const window = sorted.slice(start, start + size);
  return q === 'median' ? medianOfSorted(window) : mean(window);
}

export interface GroupStats {
  n: number;
  mean: number;
  median: number;
  /** GAPO's reference point for the given τ and q. */
  q: number;
  interval: { low: number; high: number; size: number };
  std: number;
  /** Sample skewness g1 = m3 / m2^1.5 (0 when all rewards are equal). */
  skewness: number;
  /** Excess kurtosis g2 = m4 / m2² − 3 (0 when all rewards are equal). */
  excessKurtosis: number;
}

/** What the dashboard shows for one group: where GAPO's Q sits against the mean. */
export function groupStats(rewards: readonly number[], options: Partial<EstimatorOptions> = {}): GroupStats {
  const { tau, q } = resolveOptions(options);
  checkRewards(rewards, 'group');
  const sorted = sortNumbers(rewards);
  const interval = highestDensityInterval(sorted, tau);
  const center = mean(rewards);
  const m2 = centralMoment(rewards, center, 2);
  // Stryker disable next-line LogicalOperator: equivalent, m2 is 0 exactly when the rewards are equal
  const degenerate = m2 === 0 || isConstant(rewards);
  return {
    n: rewards.length,
    mean: center,
    median: medianOfSorted(sorted),
    q: intervalCenter(sorted, interval, q),
    interval: { low: interval.low, high: interval.high, size: interval.size },
    std: rewards.length > 1 ? Math.sqrt(sumOfSquaredDeviations(rewards, center) / (rewards.length - 1)) : 0,
    skewness: degenerate ? 0 : centralMoment(rewards, center, 3) / m2 ** 1.5,
    excessKurtosis: degenerate ? 0 : centralMoment(rewards, center, 4) / m2 ** 2 - 3,
  };
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

function sumOfSquaredDeviations(values: readonly number[], center: number): number {
  let sum = 0;
  for (const v of values) sum += (v - center) ** 2;
  return sum;
}

function centralMoment(values: readonly number[], center: number, order: number): number {
  let sum = 0;
  for (const v of values) sum += (v - center) ** order;
  return sum / values.length;
}

function medianOfSorted(sorted: readonly number[]): number {
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function sortNumbers(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

function isConstant(values: readonly number[]): boolean {
  return values.every((v) => v === values[0]);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
