import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** The middle value (the mean of the two middle ones for an even count): it resists a shared machine's outliers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median wall time of `fn` in milliseconds over `runs` runs, after one warm-up. */
export function medianMs(fn: () => unknown, runs = 9): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

export function table(rows: Record<string, string | number>[]): void {
  const keys = Object.keys(rows[0]);
  const cells = rows.map((row) => keys.map((k) => String(row[k])));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(keys));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const c of cells) console.log(line(c));
}

/**
 * This process's peak RSS since it started: VmHWM, which exec resets (getrusage's maxRSS keeps
 * the parent's peak across exec: a bench's parent may have held a model's weights).
 */
export function peakRssMiB(): number {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
  return line ? Number(line[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}
