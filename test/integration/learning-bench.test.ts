// `npm run bench:learning -- --quick`, as CI runs it: every arm trains under every noise and is
// scored, the user's-gain replay runs through the language server, and the report parses.
// On files given with --train and --test, so it runs without the shared data.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ARMS, benchLearning, readResults } from '../bench/learning/learning.bench';
import { tempDir } from '../helpers/models';
import { repoRoot } from '../helpers/paths';

describe('the learning benchmark, quick', () => {
  it('runs every arm under every noise, and writes a report, plots and results that parse', { timeout: 10 * 60_000 }, async () => {
    const work = tempDir('learning-bench');
    const ky = readFileSync(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(work, 'ky.train.jsonl'), ky.slice(0, 40).join('\n') + '\n');
    writeFileSync(join(work, 'ky.test.jsonl'), ky.slice(40).join('\n') + '\n');
    writeFileSync(join(work, 'other.test.jsonl'), readFileSync(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl')));
    const out = join(work, 'report');
    await benchLearning(['--quick', '--train', join(work, 'ky.train.jsonl'), '--test', join(work, 'ky.test.jsonl'), join(work, 'other.test.jsonl'), '--out', out]);

    const results = readResults(out);
    assert.deepEqual(results.inDomainTests.map((f) => f.split('/').pop()), ['ky.test.jsonl']);
    assert.deepEqual(results.outOfDomainTests.map((f) => f.split('/').pop()), ['other.test.jsonl']);
    const noises = results.settings.noises.map((n) => (n.kind === 'clean' ? 'clean' : `${n.kind} ${n.level}`));
    assert.deepEqual(noises, ['clean', 'flips 0.4', 'outliers 0.25', 'half-finished 0.5']);
    for (const noise of noises) {
      for (const arm of ARMS.filter((a) => noise === 'clean' || !a.name.includes('τ'))) {
        const run = results.runs.find((r) => r.arm === arm.name && r.noise === noise);
        assert.ok(run, `${arm.name} under ${noise}`);
        for (const value of [run.inDomain.editSimilarity, run.outOfDomain.editSimilarity, run.clipFraction, run.qFarFromMean]) assert.ok(Number.isFinite(value), `${arm.name} under ${noise}`);
        assert.ok(run.inDomain.n > 0 && run.outOfDomain.n > 0);
        assert.ok(run.typing.episodes > 0);
        if (arm.estimator) {
          assert.ok(run.tokensPerSecond > 0);
          assert.ok(run.groups.length > 0 && run.groups.every((g) => g.rewards.length === results.settings.group));
          assert.deepEqual(run.curve.map((p) => p.step), results.settings.curveSteps);
        }
      }
    }
    // Outliers reach the rewards the estimators see; clean rewards never exceed a kept accept.
    const clean = results.runs.filter((r) => r.noise === 'clean').flatMap((r) => r.groups.flatMap((g) => g.rewards));
    assert.ok(clean.every((r) => r <= 1.75));
    assert.deepEqual(results.gain.map((g) => g.arm), ['none', 'gapo', 'grpo']);

    const report = readFileSync(join(out, 'README.md'), 'utf8');
    for (const noise of noises) assert.match(report, new RegExp(`\\| ${noise} \\| gapo \\|`));
    assert.match(report, /## GAPO against GRPO/);
    assert.match(report, /## The user's gain/);
    for (const plot of ['exact-match-by-step.svg', 'edit-similarity-by-step.svg', 'chars-saved.svg']) {
      assert.ok(existsSync(join(out, plot)), plot);
      assert.match(readFileSync(join(out, plot), 'utf8'), /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
      assert.match(report, new RegExp(`\\(${plot}\\)`));
    }
  });
});
