import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { computeAdvantages, gapoReference, groupStats, highestDensityInterval } from '../../server/src/gapo/advantages';
import { RewardError } from '../../server/src/gapo/reward';
import type { EstimatorName } from '../../server/src/protocol';

// A fixed seed: a property test that finds a failure finds it on every run.
fc.configureGlobal({ seed: 20261128 });

const ESTIMATORS: EstimatorName[] = ['gapo', 'grpo', 'drgrpo'];

// Rewards as code-edit rewards look: many exact ties (0, 0.5, 1), a continuum, and rare
// extreme outliers.
const reward = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 0.5, 1) },
  { weight: 3, arbitrary: fc.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-1e6, 1e6) },
);
const group = fc.array(reward, { minLength: 1, maxLength: 64 });
const tau = fc.double({ min: 0.05, max: 1, noNaN: true });

function closeTo(actual: number, expected: number, tolerance = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${actual} is not ${expected}`);
}

describe('highest-density interval', () => {
  it('is the shortest window of ceil(G·τ) sorted rewards, the first one on ties', () => {
    fc.assert(
      fc.property(group, tau, (rewards, t) => {
        const sorted = [...rewards].sort((a, b) => a - b);
        const interval = highestDensityInterval(sorted, t);
        assert.equal(interval.size, Math.max(1, Math.ceil(rewards.length * t)));
        const width = interval.high - interval.low;
        for (let start = 0; start + interval.size <= sorted.length; start++) {
          const other = sorted[start + interval.size - 1] - sorted[start];
          assert.ok(width <= other, `window at ${start} is narrower (${other} < ${width})`);
          if (start < interval.start) assert.ok(other > width, `earlier window at ${start} ties`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('places Q inside the window, for the median and the mean variants', () => {
    fc.assert(
      fc.property(group, tau, fc.constantFrom('median' as const, 'mean' as const), (rewards, t, q) => {
        const sorted = [...rewards].sort((a, b) => a - b);
        const { low, high } = highestDensityInterval(sorted, t);
        const reference = gapoReference(rewards, t, q);
        assert.ok(reference >= low && reference <= high, `Q=${reference} outside [${low}, ${high}]`);
      }),
      { numRuns: 500 },
    );
  });

  it('takes the mean of the two middle values for an even window', () => {
    // k = ceil(4 · 0.5) = 2; all three windows are 1 wide, so the first, [1, 2], is taken.
    assert.equal(gapoReference([4, 2, 1, 3], 0.5, 'median'), 1.5);
    assert.deepEqual(highestDensityInterval([1, 2, 3, 4], 0.5), { start: 0, size: 2, low: 1, high: 2 });
  });
});

describe('advantage estimators', () => {
  it('are invariant to permuting the group', () => {
    fc.assert(
      fc.property(
        group.chain((rewards) => fc.tuple(fc.constant(rewards), fc.shuffledSubarray(rewards.map((_, i) => i), { minLength: rewards.length }))),
        fc.constantFrom(...ESTIMATORS),
        tau,
        ([rewards, order], estimator, t) => {
          const [original] = computeAdvantages([rewards], estimator, { tau: t });
          const [permuted] = computeAdvantages([order.map((i) => rewards[i])], estimator, { tau: t });
          order.forEach((from, to) => closeTo(permuted[to], original[from]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('give 0 for a group of one and for equal rewards, never NaN', () => {
    for (const estimator of ESTIMATORS) {
      assert.deepEqual(computeAdvantages([[0.7]], estimator), [[0]]);
      assert.deepEqual(computeAdvantages([[0.1, 0.1, 0.1]], estimator), [[0, 0, 0]]);
      assert.deepEqual(computeAdvantages([[1e6, 1e6]], estimator), [[0, 0]]);
    }
    fc.assert(
      fc.property(group, fc.constantFrom(...ESTIMATORS), (rewards, estimator) => {
        for (const a of computeAdvantages([rewards], estimator)[0]) assert.ok(Number.isFinite(a));
      }),
    );
  });

  it('computes GRPO with the unbiased std, as verl does', () => {
    // mean 0.25, unbiased std sqrt((0.5625 + 3 · 0.0625) / 3) = 0.5
    const [advantages] = computeAdvantages([[1, 0, 0, 0]], 'grpo');
    [1.5, -0.5, -0.5, -0.5].forEach((expected, i) => closeTo(advantages[i], expected, 1e-5));
  });

  it('computes Dr. GRPO as r − mean', () => {
    assert.deepEqual(computeAdvantages([[1, 0, 0, 0]], 'drgrpo'), [[0.75, -0.25, -0.25, -0.25]]);
  });

  it('computes GAPO against the median of the densest half, scaled by the RMS deviation from Q', () => {
    // Sorted: 0 0 0 0.1 0.9 0.95 1; k = 4; the densest window is [0, 0, 0, 0.1]; Q = 0.
    const rewards = [1, 0, 0, 0, 0.9, 0.95, 0.1];
    const scale = Math.sqrt(rewards.reduce((s, r) => s + r * r, 0) / 6);
    const [advantages] = computeAdvantages([rewards], 'gapo');
    rewards.forEach((r, i) => closeTo(advantages[i], r / (scale + 1e-6)));
    // With the window's mean instead: Q = 0.025; unscaled advantages are r − Q.
    const [unscaled] = computeAdvantages([rewards], 'gapo', { q: 'mean', scale: false });
    rewards.forEach((r, i) => closeTo(unscaled[i], r - 0.025));
  });

  it('keeps GAPO\'s Q near the bulk when one extreme outlier joins the group', (t) => {
    // For random groups, replace one reward by an extreme outlier and compare how far each
    // estimator's reference point moves: GRPO's mean follows the outlier, GAPO's Q does not.
    const shifts = { gapo: 0, grpo: 0 };
    fc.assert(
      fc.property(
        // Rewards on a grid in [0, 1] (fast-check's doubles crowd near 0, which flatters Q).
        fc.array(fc.integer({ min: 0, max: 1000 }).map((i) => i / 1000), { minLength: 8, maxLength: 64 }),
        fc.nat(),
        (rewards, pick) => {
          const outlier = [...rewards];
          outlier[pick % rewards.length] = 100;
          shifts.gapo += Math.abs(gapoReference(outlier, 0.5, 'median') - gapoReference(rewards, 0.5, 'median'));
          shifts.grpo += Math.abs(mean(outlier) - mean(rewards));
        },
      ),
      { numRuns: 1000, seed: 20251021 },
    );
    const ratio = shifts.gapo / shifts.grpo;
    t.diagnostic(`mean |ΔQ| / mean |Δmean| with one outlier at 100: ${ratio.toExponential(2)}`);
    assert.ok(ratio < 0.05, `GAPO's Q moved ${ratio} times as far as the mean`);
  });

  it('names the prompt of a non-finite reward', () => {
    assert.throws(() => computeAdvantages([[1], [0, Number.NaN]], 'gapo', {}, ['p0', 'episode-42']), (error: unknown) => {
      assert.ok(error instanceof RewardError);
      assert.match(error.message, /episode-42/);
      assert.match(error.message, /reward 1/);
      return true;
    });
    assert.throws(() => computeAdvantages([[Infinity, 0]], 'grpo'), /prompt #0/);
    assert.throws(() => computeAdvantages([[]], 'grpo'), /no rewards/);
  });

  it('rejects a τ outside (0, 1]', () => {
    assert.throws(() => computeAdvantages([[0, 1]], 'gapo', { tau: 0 }), /tau/);
    assert.throws(() => computeAdvantages([[0, 1]], 'gapo', { tau: 1.5 }), /tau/);
  });
});

describe('group statistics', () => {
  it('reports mean, median, Q, the interval, skewness and excess kurtosis', () => {
    const stats = groupStats([1, 2, 3, 4, 10]);
    assert.equal(stats.mean, 4);
    assert.equal(stats.median, 3);
    // k = 3: windows [1,2,3], [2,3,4] are both 2 wide; the first is taken, Q = 2.
    assert.deepEqual(stats.interval, { low: 1, high: 3, size: 3 });
    assert.equal(stats.q, 2);
    // Deviations from the mean: −3 −2 −1 0 6, so m2 = 10, m3 = 36, m4 = 278.8.
    closeTo(stats.skewness, 36 / 10 ** 1.5);
    closeTo(stats.excessKurtosis, 278.8 / 100 - 3);
    assert.ok(stats.skewness > 0, 'a right tail gives positive skew');
  });

  it('is finite for a constant group', () => {
    const stats = groupStats([0.5, 0.5, 0.5]);
    assert.equal(stats.skewness, 0);
    assert.equal(stats.excessKurtosis, 0);
    assert.equal(stats.std, 0);
  });
});

function mean(values: number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

describe('advantages away from zero', () => {
  it('scales GAPO around a Q that is not zero, with ε in the denominator', () => {
    // Sorted [0, 0.25, 0.5, 2], τ = 0.5: the densest pair is [0, 0.25] (first on ties), Q = 0.125.
    const rewards = [2, 0, 0.5, 0.25];
    const q = 0.125;
    const spread = Math.sqrt(rewards.reduce((s, r) => s + (r - q) ** 2, 0) / 3);
    const [advantages] = computeAdvantages([rewards], 'gapo', { tau: 0.5, epsilon: 0.5 });
    advantages.forEach((a, i) => closeTo(a, (rewards[i] - q) / (spread + 0.5)));
    const [grpo] = computeAdvantages([[0, 1]], 'grpo', { epsilon: 0.5 });
    closeTo(grpo[1], 0.5 / (Math.SQRT1_2 + 0.5));
  });

  it('checks its options and names the prompt of a bad reward', () => {
    assert.throws(() => computeAdvantages([[1, 2]], 'gapo', { q: 'mode' as 'mean' }), /q must be "median" or "mean", got mode/);
    assert.throws(() => computeAdvantages([[1, 2]], 'gapo', { epsilon: -1 }), /epsilon must be >= 0, got -1/);
    assert.deepEqual(computeAdvantages([[0, 2]], 'drgrpo', { epsilon: 0 }), [[-1, 1]], 'ε = 0 is allowed');
    assert.throws(() => computeAdvantages([[1, NaN]], 'gapo', {}, ['p7']), /prompt p7: reward 1 is not a finite number \(NaN\)/);
    assert.throws(() => computeAdvantages(['x' as unknown as number[]], 'gapo', {}, ['p8']), /prompt p8: rewards must be an array/);
    assert.throws(() => groupStats([1, Infinity]), /prompt group: reward 1/);
  });

  it('reports the unbiased std of a group, and 0 for a group of one', () => {
    assert.equal(groupStats([1, 2, 3]).std, 1);
    closeTo(groupStats([0, 1]).std, Math.SQRT1_2);
    assert.equal(groupStats([0.5]).std, 0);
  });
});
