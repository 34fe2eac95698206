// The dashboard's axes and marks (src/dashboard/axes.ts): one day of data sits in the middle of
// a few days, and the steps of successive runs are marked where each run starts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dayRange, runStarts } from '../../src/dashboard/axes';

describe("the dashboard's axes", () => {
  it('spans a day either side of the days with data, one day included (not years)', () => {
    const noon = Date.parse('2026-12-07T12:00:00Z') / 1000;
    assert.deepEqual(dayRange([noon]), [noon - 86_400, noon + 86_400]);
    assert.deepEqual(dayRange([noon, noon + 2 * 86_400]), [noon - 86_400, noon + 3 * 86_400]);
    assert.throws(() => dayRange([]), /no days/);
  });

  it('marks where each run starts among consecutive steps', () => {
    assert.deepEqual(runStarts([4, 4, 4, 5, 5, 7]), [
      { x: 1, runId: 4 },
      { x: 4, runId: 5 },
      { x: 6, runId: 7 },
    ]);
    assert.deepEqual(runStarts([]), []);
  });
});
