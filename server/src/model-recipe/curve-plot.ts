// The training curve as a small SVG (no plotting library): held-out and training loss
// against training time, one colour per phase, so a README can show how the model learned.

import type { CurvePoint } from './cross-entropy-run';

export interface Phase {
  name: string;
  curve: CurvePoint[];
}

const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 44 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

export function curveSvg(phases: Phase[], title: string): string {
  // Phases follow each other in time: each starts where the previous one ended.
  let offset = 0;
  const series = phases.map((phase) => {
    const points = phase.curve.map((p) => ({ minutes: (offset + p.seconds) / 60, heldOut: p.heldOutLoss, train: p.trainLoss }));
    offset += phase.curve.length ? phase.curve[phase.curve.length - 1].seconds : 0;
    return { name: phase.name, points };
  });
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1e-9, ...all.map((p) => p.minutes));
  const values = all.flatMap((p) => (p.train === null ? [p.heldOut] : [p.heldOut, p.train])).filter(Number.isFinite);
  const minY = Math.floor(Math.min(...values));
  const maxY = Math.ceil(Math.max(...values));
  const x = (minutes: number) => MARGIN.left + (minutes / maxX) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (loss: number) => MARGIN.top + ((maxY - loss) / Math.max(1e-9, maxY - minY)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const line = (points: { minutes: number; value: number | null }[], colour: string, dashed: boolean) => {
    const coords = points.filter((p) => p.value !== null && Number.isFinite(p.value)).map((p) => `${x(p.minutes).toFixed(1)},${y(p.value!).toFixed(1)}`);
    return `<polyline fill="none" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="4 3"' : ''} points="${coords.join(' ')}"/>`;
  };
  const parts: string[] = [];
  for (let loss = minY; loss <= maxY; loss++) {
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(loss)}" y2="${y(loss)}" stroke="#ddd"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${y(loss) + 4}" text-anchor="end">${loss}</text>`);
  }
  const tick = maxX > 60 ? 30 : maxX > 20 ? 10 : 5;
  for (let minutes = 0; minutes <= maxX; minutes += tick) parts.push(`<text x="${x(minutes)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${minutes}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    parts.push(line(s.points.map((p) => ({ minutes: p.minutes, value: p.heldOut })), colour, false));
    parts.push(line(s.points.map((p) => ({ minutes: p.minutes, value: p.train })), colour, true));
    parts.push(`<text x="${WIDTH - MARGIN.right - 4}" y="${MARGIN.top + 14 + 16 * i}" text-anchor="end" fill="${colour}">${escape(s.name)}</text>`);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n` +
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14">${escape(title)}</text>\n` +
    `<text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle">minutes of training (2 CPU cores)</text>\n` +
    `<text x="14" y="${HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 14 ${HEIGHT / 2})">loss (nats per token)</text>\n` +
    parts.join('\n') +
    '\n</svg>\n'
  );
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
