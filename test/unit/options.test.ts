// The client's initializationOptions, read as the protocol types them: what is well typed
// reaches the server's options, anything else is dropped with a line naming it and the default
// serves, so that a bad settings file never stops the server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultTrainingSettings } from '../../server/src/gapo/training-job';
import { readInitializationOptions, resolveOptions } from '../../server/src/lsp/options';

describe('initialization options', () => {
  it('keeps well-typed settings, and the server fills in the rest from its defaults', () => {
    const sent = { dataDir: '/tmp/gapo-data', modelDir: null, dtype: 'q8', capture: { exclude: ['**/*.pem'], settleMs: 500 }, suggest: { minProbability: null }, training: { tau: 0.3, estimator: 'grpo', background: false } };
    const { options, problems } = readInitializationOptions(sent);
    assert.deepEqual(problems, []);
    assert.deepEqual(options, sent);
    const resolved = resolveOptions({}, options);
    assert.equal(resolved.modelDir, null, 'null: capture only, not the bundled model');
    assert.equal(resolved.training.tau, 0.3);
    assert.equal(resolved.training.group, defaultTrainingSettings.group);
    assert.equal(resolved.capture.settleMs, 500);
    assert.deepEqual(resolved.capture.exclude, ['**/*.pem']);
  });

  it('drops a setting of the wrong kind or an unknown one, names it, and lets the default serve', () => {
    const { options, problems } = readInitializationOptions({
      dtype: 'q3',
      capture: 'everything',
      prompt: { contextLines: 4, historyDiffs: [1] },
      suggest: { maxTokens: '64', enabled: false },
      training: { tau: 'half', estimator: 'ppo', group: Number.NaN, steps: 6, bogus: 1 },
      colour: 'blue',
    });
    assert.deepEqual(options, { suggest: { enabled: false }, prompt: { contextLines: 4 }, training: { steps: 6 } });
    for (const named of ['dtype', 'capture', 'prompt.historyDiffs', 'suggest.maxTokens', 'training.tau', 'training.estimator', 'training.group', 'training.bogus', 'colour']) {
      assert.ok(problems.some((p) => p.startsWith(`${named}:`)), `${named} is named: ${problems.join('; ')}`);
    }
    const resolved = resolveOptions({}, options);
    assert.equal(resolved.dtype, 'f32');
    assert.equal(resolved.training.tau, defaultTrainingSettings.tau);
    assert.equal(resolved.training.estimator, defaultTrainingSettings.estimator);
    assert.equal(resolved.suggest.maxTokens, resolveOptions({}, {}).suggest.maxTokens);
  });

  it('takes lists of the kind their default holds: globs and folders are strings, survival checks numbers', () => {
    const { options, problems } = readInitializationOptions({ capture: { exclude: ['**/*.key'], excludeFolders: [7], survivalChecksS: [30, '600'] } });
    assert.deepEqual(options, { capture: { exclude: ['**/*.key'] } });
    assert.deepEqual(problems.map((p) => p.split(':')[0]), ['capture.excludeFolders', 'capture.survivalChecksS']);
  });

  it('skips settings sent as undefined (VS Code gives unset settings so), and takes nothing from a non-object', () => {
    assert.deepEqual(readInitializationOptions({ training: { tau: undefined, rank: 4 } }), { options: { training: { rank: 4 } }, problems: [] });
    assert.deepEqual(readInitializationOptions(undefined), { options: {}, problems: [] });
    const { options, problems } = readInitializationOptions('--data /tmp');
    assert.deepEqual(options, {});
    assert.equal(problems.length, 1);
  });
});
