// Small SVG charts for the learning report (no plotting library): lines against a step,
// grouped bars, and strips of one group's rewards with two reference marks.

const WIDTH = 720;
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
const FONT = 'font-family="sans-serif" font-size="12"';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fixed = (n: number) => n.toFixed(1);

interface Frame {
  height: number;
  margin: { left: number; right: number; top: number; bottom: number };
  yMin: number;
  yMax: number;
}

/** Nice bounds and ticks for a value range. */
function ticks(min: number, max: number, count = 5): { min: number; max: number; values: number[] } {
  if (!(max > min)) [min, max] = [min - 0.5, max + 0.5];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const values: number[] = [];
  for (let v = low; v <= high + step / 2; v += step) values.push(Number(v.toPrecision(12)));
  return { min: low, max: high, values };
}

function yAxis(frame: Frame, values: number[], label: string): { parts: string[]; y: (v: number) => number } {
  const { margin, height } = frame;
  const y = (v: number) => margin.top + ((frame.yMax - v) / (frame.yMax - frame.yMin)) * (height - margin.top - margin.bottom);
  const parts = values.map((v) => `<line x1="${margin.left}" x2="${WIDTH - margin.right}" y1="${fixed(y(v))}" y2="${fixed(y(v))}" stroke="#ddd"/><text x="${margin.left - 6}" y="${fixed(y(v) + 4)}" text-anchor="end">${v}</text>`);
  parts.push(`<text x="14" y="${fixed(height / 2)}" transform="rotate(-90 14 ${fixed(height / 2)})" text-anchor="middle">${escape(label)}</text>`);
  return { parts, y };
}

function legend(names: string[], top: number): string[] {
  return names.map((name, i) => `<rect x="${WIDTH - 150}" y="${top + i * 16}" width="10" height="10" fill="${COLOURS[i % COLOURS.length]}"/><text x="${WIDTH - 134}" y="${top + i * 16 + 9}">${escape(name)}</text>`);
}

function svg(height: number, title: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>\n<rect width="100%" height="100%" fill="white"/>\n<text x="${WIDTH / 2}" y="16" text-anchor="middle" font-size="14">${escape(title)}</text>\n${parts.join('\n')}\n</svg>\n`;
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

/** One line per series against x; the legend on the right. */
export function lineChart(series: LineSeries[], title: string, xLabel: string, yLabel: string): string {
  const all = series.flatMap((s) => s.points);
  const yTicks = ticks(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)));
  const xMax = Math.max(1, ...all.map((p) => p.x));
  const frame: Frame = { height: 340, margin: { left: 60, right: 170, top: 30, bottom: 44 }, yMin: yTicks.min, yMax: yTicks.max };
  const { parts, y } = yAxis(frame, yTicks.values, yLabel);
  const x = (v: number) => frame.margin.left + (v / xMax) * (WIDTH - frame.margin.left - frame.margin.right);
  for (const v of ticks(0, xMax).values.filter((v) => v <= xMax)) {
    parts.push(`<text x="${fixed(x(v))}" y="${frame.height - frame.margin.bottom + 16}" text-anchor="middle">${v}</text>`);
  }
  parts.push(`<text x="${fixed(x(xMax / 2))}" y="${frame.height - 8}" text-anchor="middle">${escape(xLabel)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const coords = s.points.map((p) => `${fixed(x(p.x))},${fixed(y(p.y))}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${coords}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${fixed(x(p.x))}" cy="${fixed(y(p.y))}" r="3" fill="${colour}"/>`);
  });
  parts.push(...legend(series.map((s) => s.name), frame.margin.top));
  return svg(frame.height, title, parts);
}

/** Bars grouped by category, one colour per series; an optional error bar (± spread) on each. */
export function groupedBarChart(categories: string[], series: { name: string; values: number[]; spreads?: number[] }[], title: string, yLabel: string): string {
  const values = series.flatMap((s) => s.values.map((v, i) => [v - (s.spreads?.[i] ?? 0), v + (s.spreads?.[i] ?? 0)]).flat());
  const yTicks = ticks(Math.min(0, ...values), Math.max(...values));
  const frame: Frame = { height: 360, margin: { left: 60, right: 170, top: 30, bottom: 60 }, yMin: yTicks.min, yMax: yTicks.max };
  const { parts, y } = yAxis(frame, yTicks.values, yLabel);
  const band = (WIDTH - frame.margin.left - frame.margin.right) / categories.length;
  const bar = (band * 0.8) / series.length;
  categories.forEach((category, c) => {
    const left = frame.margin.left + c * band + band * 0.1;
    parts.push(`<text x="${fixed(left + band * 0.4)}" y="${frame.height - frame.margin.bottom + 16}" text-anchor="middle">${escape(category)}</text>`);
    series.forEach((s, i) => {
      const v = s.values[c];
      const x0 = left + i * bar;
      const top = Math.min(y(v), y(0));
      parts.push(`<rect x="${fixed(x0)}" y="${fixed(top)}" width="${fixed(bar * 0.9)}" height="${fixed(Math.abs(y(v) - y(0)))}" fill="${COLOURS[i % COLOURS.length]}"/>`);
      const spread = s.spreads?.[c];
      if (spread) parts.push(`<line x1="${fixed(x0 + bar * 0.45)}" x2="${fixed(x0 + bar * 0.45)}" y1="${fixed(y(v - spread))}" y2="${fixed(y(v + spread))}" stroke="black"/>`);
    });
  });
  parts.push(...legend(series.map((s) => s.name), frame.margin.top));
  return svg(frame.height, title, parts);
}

/** One row per group: its rewards as dots, with the group mean and GAPO's Q marked. */
export function rewardStrips(groups: { label: string; rewards: number[]; mean: number; q: number }[], title: string): string {
  const all = groups.flatMap((g) => g.rewards);
  const xTicks = ticks(Math.min(...all), Math.max(...all));
  const row = 30;
  const margin = { left: 200, right: 30, top: 40, bottom: 50 };
  const height = margin.top + groups.length * row + margin.bottom;
  const x = (v: number) => margin.left + ((v - xTicks.min) / (xTicks.max - xTicks.min)) * (WIDTH - margin.left - margin.right);
  const parts: string[] = [];
  for (const v of xTicks.values) {
    parts.push(`<line x1="${fixed(x(v))}" x2="${fixed(x(v))}" y1="${margin.top - 10}" y2="${height - margin.bottom}" stroke="#eee"/><text x="${fixed(x(v))}" y="${height - margin.bottom + 16}" text-anchor="middle">${v}</text>`);
  }
  parts.push(`<text x="${fixed(x((xTicks.min + xTicks.max) / 2))}" y="${height - 12}" text-anchor="middle">reward (dots: rollouts; blue: group mean, GRPO's reference; red: GAPO's Q)</text>`);
  groups.forEach((g, i) => {
    const cy = margin.top + i * row + row / 2;
    parts.push(`<text x="${margin.left - 8}" y="${fixed(cy + 4)}" text-anchor="end">${escape(g.label)}</text>`);
    for (const r of g.rewards) parts.push(`<circle cx="${fixed(x(r))}" cy="${fixed(cy)}" r="4" fill="#555" fill-opacity="0.6"/>`);
    parts.push(`<line x1="${fixed(x(g.mean))}" x2="${fixed(x(g.mean))}" y1="${fixed(cy - 11)}" y2="${fixed(cy + 11)}" stroke="${COLOURS[0]}" stroke-width="3"/>`);
    parts.push(`<line x1="${fixed(x(g.q))}" x2="${fixed(x(g.q))}" y1="${fixed(cy - 11)}" y2="${fixed(cy + 11)}" stroke="${COLOURS[1]}" stroke-width="3"/>`);
  });
  return svg(height, title, parts);
}
