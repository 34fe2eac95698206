import { performance } from 'node:perf_hooks';

/** Median wall time of `fn` in milliseconds over `runs` runs, after one warm-up. */
export function medianMs(fn: () => unknown, runs = 9): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
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
