// What the dashboard's axes and marks are computed from, apart from the DOM so that it is tested.

const DAY_S = 86_400;

/** The time axis of per-day points (seconds): a day of room on each side, so that one day of data sits in the middle of a few days, not at the left of a span of years. */
export function dayRange(days: readonly number[]): [number, number] {
  if (days.length === 0) throw new RangeError('no days to show');
  return [Math.min(...days) - DAY_S, Math.max(...days) + DAY_S];
}

/** Where each run starts among consecutive steps (1-based x positions), with its id: the marks between runs. */
export function runStarts(runIds: readonly number[]): { x: number; runId: number }[] {
  return runIds.flatMap((runId, i) => (i === 0 || runIds[i - 1] !== runId ? [{ x: i + 1, runId }] : []));
}
