// The eval gate's rule (gapo/gate.ts): a candidate goes live only when typing the held-out
// episodes with it saves more characters than the live adapter beyond the paired noise, and
// its share of shown suggestions accepted does not fall by more than the allowed points.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GAIN_Z, GATE_RULE, judge } from '../../server/src/gapo/gate';
import { repoRoot } from '../helpers/paths';

const typing = (saved: number[], shown = 20, accepted = 10) => ({
  episodes: saved.length,
  charsTotal: 1000,
  charsSaved: saved.reduce((a, b) => a + b, 0),
  shown,
  accepted,
  savedPerEpisode: saved,
});

describe('the eval gate', () => {
  const live = typing([10, 0, 5, 20, 0, 8]);

  it('keeps an adapter that changes nothing out of service', () => {
    const verdict = judge(live, typing(live.savedPerEpisode), 'v2');
    assert.equal(verdict.deploy, false);
    assert.equal(verdict.gain, 0);
    assert.match(verdict.reason, /saved 43 of 1000 characters typing 6 held-out episodes, v2 43 \(\+0; going live needs more than \+0\)/);
  });

  it('keeps an adapter that saves fewer characters', () => {
    const verdict = judge(live, typing([10, 0, 5, 12, 0, 8]), 'v2');
    assert.equal(verdict.deploy, false);
    assert.equal(verdict.gain, -8);
  });

  it('makes live an adapter that saves more on every episode', () => {
    const verdict = judge(live, typing(live.savedPerEpisode.map((s) => s + 3)), 'v2');
    assert.equal(verdict.deploy, true);
    assert.equal(verdict.gain, 18);
    assert.equal(verdict.margin, 0, 'no spread in the differences: no noise');
    assert.match(verdict.reason, /\(\+18, beyond the noise margin of 0\); 50% of shown accepted \(v2 50% of shown accepted\)/);
  });

  it('keeps an adapter whose gain is one lucky episode: within the noise of the paired difference', () => {
    const candidate = typing([10, 0, 5, 50, 0, 8]);
    const verdict = judge(live, candidate, 'v2');
    // Differences 0,0,0,30,0,0: mean 5, sd √150, margin 1.645·√150·√6 = 49.3 > 30.
    assert.equal(verdict.gain, 30);
    assert.equal(verdict.margin, Math.round(GAIN_Z * Math.sqrt(150 * 6) * 10) / 10);
    assert.equal(verdict.deploy, false);
    // The same gain spread over every episode is beyond the noise.
    assert.equal(judge(live, typing(live.savedPerEpisode.map((s) => s + 5)), 'v2').deploy, true);
  });

  it('keeps an adapter that buys characters with a screen of wrong suggestions', () => {
    const more = live.savedPerEpisode.map((s) => s + 5);
    assert.equal(judge(live, typing(more, 40, 14), 'v2').deploy, false, '35% of shown accepted against 50%');
    assert.match(judge(live, typing(more, 40, 14), 'v2').reason, /but 35% of shown accepted against 50% of shown accepted for v2/);
    assert.equal(judge(live, typing(more, 22, 10), 'v2').deploy, true, '45% against 50%: within 5 points');
  });

  it('refuses to compare typings of different episodes', () => {
    assert.throws(() => judge(live, typing([1, 2]), 'v2'), /same episodes/);
  });

  it("is stated, true to the code, in the README, the language server's docs and the walkthrough", () => {
    for (const file of ['README.md', 'docs/language-server.md', 'media/walkthrough/history.md']) {
      const text = readFileSync(join(repoRoot, file), 'utf8').replace(/\s+/g, ' ');
      assert.ok(text.includes(GATE_RULE), `${file} states the gate's rule: ${GATE_RULE}`);
    }
  });
});
