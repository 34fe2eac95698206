// What the status item and a Train Now notification say: the truth about the model and the
// run, in few words.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunResult, ServerStatus } from '../../server/src/protocol';
import { phaseMessage } from '../../server/src/gapo/learner';
import { evaluationLine, runSummary, statusText } from '../../src/summaries';

const ready: ServerStatus = {
  version: '0.1.0',
  dataDir: '/d',
  model: '/m/default',
  modelState: 'ready',
  modelError: null,
  adapterVersion: 3,
  openDocuments: 1,
  episodes: { total: 40, untrained: 4, fromSuggestions: 10 },
  suggestions: { shown: 20, accepted: 8, typedOver: 6, ignored: 6, recentAcceptance: { accepted: 8, of: 20 }, enabled: true },
  learning: 'on',
  training: { state: 'idle', runId: null, percentage: null, message: null, lastRun: null },
};

describe('the status item', () => {
  it('says ready, with the live adapter, only when a model is loaded and suggesting', () => {
    assert.deepEqual(statusText('running', ready), { text: '$(sparkle) GAPO v3', summary: 'ready: suggesting with adapter v3', error: false });
  });

  it('never says ready without a model: loading, none and failed (with why) say so', () => {
    assert.match(statusText('running', { ...ready, modelState: 'loading' }).summary, /loading the model/);
    assert.match(statusText('running', { ...ready, modelState: 'none', model: null }).text, /no model/);
    const failed = statusText('running', { ...ready, modelState: 'failed', modelError: 'config.json: unsupported architecture' });
    assert.equal(failed.error, true);
    assert.match(failed.summary, /unsupported architecture/);
    assert.equal(statusText('stopped', null).error, true);
    assert.match(statusText('starting', null).summary, /starting/);
  });

  it('says what a run is doing without repeating itself ("training: step 2 of 4", not "training: training (2/4)")', () => {
    const training = (message: string) => statusText('running', { ...ready, training: { ...ready.training, state: 'training', percentage: 50, message } }).summary;
    assert.equal(training(phaseMessage('training', 2, 4)), 'training: step 2 of 4');
    assert.equal(training(phaseMessage('loading', 0, 1)), 'training: loading the model');
    assert.equal(training(phaseMessage('evaluating live', 3, 12)), 'training: typing held-out episode 3 of 12 with the live adapter');
    assert.equal(training(phaseMessage('evaluating candidate', 12, 12)), 'training: typing held-out episode 12 of 12 with the candidate');
  });

  it('shows training with its percentage, then paused learning and switched-off suggestions', () => {
    assert.equal(statusText('running', { ...ready, training: { ...ready.training, state: 'training', percentage: 42, message: 'step 1 of 2' } }).text, '$(sync~spin) GAPO 42%');
    assert.match(statusText('running', { ...ready, learning: 'paused' }).summary, /paused/);
    assert.match(statusText('running', { ...ready, suggestions: { ...ready.suggestions, enabled: false } }).summary, /suggestions off/);
  });
});

describe("a run's one-line result", () => {
  const typing = (saved: number[]) => ({ episodes: saved.length, charsTotal: 400, charsSaved: saved.reduce((a, b) => a + b, 0), shown: 10, accepted: 5, savedPerEpisode: saved });
  it('names the version, whether it is live, and what it gained against the noise margin, within a notification', () => {
    const verdict = { deploy: true, gain: 32, margin: 18.4, reason: '' };
    const result: RunResult = { runId: 4, status: 'deployed', adapterVersion: 12, live: typing([10, 0]), candidate: typing([30, 12]), verdict, error: null };
    const line = runSummary(result);
    assert.equal(line, 'v12 live: +32 characters (noise margin 18.4)');
    const kept = runSummary({ ...result, status: 'kept', verdict: { ...verdict, deploy: false, gain: 0 } });
    assert.equal(kept, 'v12 kept, not live: +0 characters, needed more than +18.4');
    assert.ok(`GAPO: ${kept}`.length <= 70, kept);
    assert.equal(runSummary({ ...result, status: 'kept', verdict: { ...verdict, deploy: false, gain: 40 } }), 'v12 kept, not live: +40 characters, but fewer of shown accepted');
    assert.equal(runSummary({ runId: 5, status: 'failed', adapterVersion: null, live: null, candidate: null, verdict: null, error: 'not enough episodes' }), 'training failed: not enough episodes');
  });

  it("describes an adapter's judgement by the share of characters saved, beside the adapter live before it", () => {
    const line = evaluationLine({ liveVersion: 3, live: typing([10, 0]), candidate: typing([30, 12]), verdict: { deploy: true, gain: 32, margin: 18.4, reason: '' } });
    assert.equal(line, 'typing 2 held-out episodes: 10.5% of characters saved, 50% of shown accepted (v3: 2.5%)');
  });
});
