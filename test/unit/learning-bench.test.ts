// The learning benchmark's noise and statistics: the labels it corrupts must be corrupted the
// way an editor corrupts them, the same for every arm, and its intervals must be the textbook ones.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Episode } from '../../server/src/edits/episode';
import { ACCEPT_BONUS, editAndExactMatch, TYPED_OVER_BONUS } from '../../server/src/gapo/reward';
import { remainingWork } from '../../server/src/replay/typing';
import { helps, noisyEpisodes, noisyReward, OUTLIER_REWARD, partlyTyped, shownBonus } from '../bench/learning/noise';
import { meanAndSpread, pairedDifference } from '../bench/learning/report';
import { parseOptions } from '../bench/learning/learning.bench';

const episode = (id: string, region: string, target: string): Episode => ({ id, language: 'typescript', path: 'a.ts', history: [], prefix: '', region, suffix: '', cursor: 0, target });

describe('the learning benchmark', () => {
  it('cuts a half-finished target where the typing user would be halfway: deletions done, half the new characters typed', () => {
    const region = 'var total = 0;\n';
    const target = 'let total = sum(values);\n';
    const half = partlyTyped(region, target, 0.5);
    const total = remainingWork(region, target).insert;
    assert.equal(remainingWork(half, target).insert, total - Math.floor(total / 2));
    assert.equal(remainingWork(half, target).delete, 0, 'what the edit removes is gone');
    assert.equal(partlyTyped(region, target, 1), target);
    assert.equal(remainingWork(partlyTyped(region, target, 0), target).insert, total);
  });

  it('replaces the targets of about the given share of episodes, the same ones for the same seed, and only under that noise', () => {
    const episodes = Array.from({ length: 400 }, (_, i) => episode(String(i), 'a\n', `a\nconst value${i} = ${i};\n`));
    const cut = noisyEpisodes(episodes, { kind: 'half-finished', level: 0.25 }, 3);
    const changed = cut.filter((e, i) => e.target !== episodes[i].target).length;
    assert.ok(changed > 70 && changed < 130, `${changed} of 400 cut`);
    assert.deepEqual(noisyEpisodes(episodes, { kind: 'half-finished', level: 0.25 }, 3), cut);
    assert.notDeepEqual(noisyEpisodes(episodes, { kind: 'half-finished', level: 0.25 }, 4), cut);
    assert.deepEqual(noisyEpisodes(episodes, { kind: 'flips', level: 0.5 }, 3), episodes);
  });

  it('replaces about the given share of rewards by the outlier, in the same places for every arm of a seed', () => {
    const draws = () => {
      const reward = noisyReward(editAndExactMatch, { kind: 'outliers', level: 0.1 }, 7);
      return Array.from({ length: 1000 }, () => reward('abc', 'abd'));
    };
    const first = draws();
    const outliers = first.filter((r) => r === OUTLIER_REWARD).length;
    assert.ok(outliers > 70 && outliers < 130, `${outliers} of 1000`);
    assert.ok(first.filter((r) => r !== OUTLIER_REWARD).every((r) => r === editAndExactMatch('abc', 'abd')));
    assert.deepEqual(draws(), first);
    assert.equal(noisyReward(editAndExactMatch, { kind: 'clean', level: 0 }, 7)('abc', 'abc'), 1);
  });

  it('accepts what leaves less to type and nothing more to delete, and records the verdict flipped at the given rate', () => {
    assert.equal(helps('const a = ', 'const a = foo', 'const a = foo();'), true);
    assert.equal(helps('const a = ', 'const a = bar', 'const a = foo();'), false, 'bar must be deleted again');
    assert.equal(helps('x', 'x', 'xy'), false);
    assert.equal(shownBonus(true, 0, () => 0), ACCEPT_BONUS);
    assert.equal(shownBonus(false, 0, () => 0), TYPED_OVER_BONUS);
    assert.equal(shownBonus(true, 0.4, () => 0.39), TYPED_OVER_BONUS, 'flipped');
    assert.equal(shownBonus(true, 0.4, () => 0.41), ACCEPT_BONUS);
  });

  it('gives the paired difference with a Student t interval over the seeds', () => {
    assert.deepEqual(meanAndSpread([1, 2, 3]), { mean: 2, sd: 1 });
    const d = pairedDifference([3, 5, 7], [2, 3, 4]);
    assert.equal(d.mean, 2);
    assert.ok(Math.abs(d.halfWidth! - 4.303 / Math.sqrt(3)) < 1e-9);
    assert.equal(pairedDifference([1], [0]).halfWidth, null, 'one seed has no interval');
  });

  it('reads --train and --test as lists of files, and refuses an unknown option', () => {
    const o = parseOptions(['--train', 'a.train.jsonl', 'b.train.jsonl', '--test', 'a.test.jsonl', '--quick', '--out', 'r']);
    assert.deepEqual([o.train.length, o.test.length, o.quick, o.render], [2, 1, true, false]);
    assert.match(o.out, /\/r$/);
    assert.throws(() => parseOptions(['--steps', '3']), /unknown option --steps/);
    assert.throws(() => parseOptions(['stray']), /which option/);
  });
});
