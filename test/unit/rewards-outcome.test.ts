import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Outcome } from '../../server/src/edits/suggestion';
import { outcomeBonus, verdictOf } from '../../server/src/gapo/reward';

const outcome = (kind: Outcome['kind'], afterS: number | null = null, share: number | null = null): Outcome => ({ kind, time: 0, afterS, share });

describe('outcome bonus', () => {
  it('follows the documented scheme: +0.75 × surviving share, −0.25 typed over, 0 ignored', () => {
    assert.equal(outcomeBonus([outcome('accepted')]), 0.75, 'accepted, no survival check yet');
    assert.equal(outcomeBonus([outcome('accepted'), outcome('survival', 30, 1), outcome('survival', 120, 0.4)]), 0.75 * 0.4, 'the latest check counts');
    assert.equal(outcomeBonus([outcome('accepted'), outcome('survival', 600, 0), outcome('survival', 30, 1)]), 0, 'latest by time after the accept, not by order');
    assert.equal(outcomeBonus([outcome('typed_over')]), -0.25);
    assert.equal(outcomeBonus([outcome('ignored')]), 0);
    assert.equal(outcomeBonus([]), 0);
  });

  it('names the verdict', () => {
    assert.deepEqual(verdictOf([outcome('ignored'), outcome('accepted')]), { verdict: 'accepted', survival: null });
    assert.deepEqual(verdictOf([outcome('typed_over')]), { verdict: 'typed_over', survival: null });
    assert.deepEqual(verdictOf([outcome('ignored')]), { verdict: 'ignored', survival: null });
    assert.equal(outcomeBonus([outcome('ignored')]), 0);
    assert.deepEqual(verdictOf([]), { verdict: 'pending', survival: null });
  });
});
