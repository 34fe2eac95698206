// The dashboard inside its webview (bundled by esbuild for the browser with uPlot, a small
// canvas charting library). It draws what the extension posts: the status, the reward groups
// that drive GAPO (mean, Q and its interval marked), training curves, acceptance over time,
// adapter versions and what was collected per file. Everything the user wrote is inserted as
// text nodes, never as HTML.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { AdapterRecord, DashboardData, RunRecord, StepRecord } from '../../server/src/protocol';
import { evaluationLine, gateLine, savedShare } from '../summaries';
import type { FromDashboard, ToDashboard } from './messages';
import { dayRange, runStarts } from './axes';

declare function acquireVsCodeApi(): { postMessage(message: FromDashboard): void };

const vscode = acquireVsCodeApi();
const root = document.getElementById('dashboard')!;
const charts: uPlot[] = [];
let last: DashboardData | null = null;

window.addEventListener('message', (event: MessageEvent<ToDashboard>) => {
  const message = event.data;
  if (message.type === 'data') render((last = message.data));
  else if (message.type === 'focus') document.getElementById(message.section)?.scrollIntoView();
  else if (message.type === 'error') showError(message.message);
});
// Charts follow the panel's width.
window.addEventListener('resize', () => last && render(last));
vscode.postMessage({ type: 'ready' });

// --- building blocks -----------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function button(label: string, message: FromDashboard, title = ''): HTMLButtonElement {
  const node = el('button', { title }, label);
  node.addEventListener('click', () => {
    node.disabled = true;
    vscode.postMessage(message);
  });
  return node;
}

function section(id: string, title: string, ...children: (Node | string)[]): HTMLElement {
  return el('section', { id }, el('h2', {}, title), ...children);
}

function color(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(`--vscode-charts-${name}`).trim() || fallback;
}

/** An axis of whole numbers (groups, steps, runs): ticks only at integers. */
const counting = (label: string): uPlot.Axis => ({ label, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] });

const when = (time: number) => new Date(time).toLocaleString();

function showError(message: string): void {
  document.getElementById('error')?.remove();
  root.prepend(el('p', { id: 'error', class: 'error' }, message));
}

/** A uPlot chart in a container of its own, sized to the panel. */
function chart(options: Omit<uPlot.Options, 'width' | 'height'>, data: uPlot.AlignedData, caption: string): HTMLElement {
  const figure = el('figure', { class: 'chart' });
  const width = Math.max(280, Math.min(root.clientWidth - 32, 760));
  const foreground = color('foreground', '#ccc');
  const grid = color('lines', 'rgba(128,128,128,0.3)');
  const axes = (options.axes ?? [{}, {}]).map((axis) => ({ stroke: foreground, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, ...axis }));
  // The legend names the series; it shows values only under the cursor (not "--" before one).
  charts.push(new uPlot({ legend: { live: false }, ...options, axes, width, height: 220 }, data, figure));
  figure.append(el('figcaption', {}, caption));
  return figure;
}

// --- the page ------------------------------------------------------------------------------------

function render(data: DashboardData): void {
  const scroll = window.scrollY;
  for (const c of charts.splice(0)) c.destroy();
  root.replaceChildren(header(data), groupsSection(data.steps), trainingSection(data.steps, data.runs), acceptanceSection(data), adaptersSection(data.adapters, data.liveAdapter), collectedSection(data));
  window.scrollTo(0, scroll);
}

function header({ status: s }: DashboardData): HTMLElement {
  const model = s.modelState === 'ready' ? s.model : `${s.modelState}${s.modelError ? `: ${s.modelError}` : ''}`;
  const acceptance = s.suggestions.recentAcceptance;
  const facts = [
    ['Model', model ?? 'none'],
    ['Live adapter', `v${s.adapterVersion}`],
    ['Learning', s.learning === 'paused' ? 'paused (nothing collected or trained)' : 'on'],
    ['Training', s.training.state === 'training' ? `${s.training.percentage ?? 0}% · ${s.training.message ?? ''}` : s.training.state],
    ['Episodes', `${s.episodes.total} (${s.episodes.untrained} not trained on yet)`],
    ['Suggestions', `${s.suggestions.shown} shown · ${s.suggestions.accepted} accepted · ${s.suggestions.typedOver} typed over · ${s.suggestions.ignored} ignored`],
    ['Recent acceptance', acceptance ? `${Math.round((100 * acceptance.accepted) / acceptance.of)}% of the last ${acceptance.of}` : '–'],
  ];
  const actions = el('div', { class: 'actions' });
  if (s.training.state === 'training') actions.append(button('Cancel training', { type: 'cancelTraining' }));
  else actions.append(button('Train now', { type: 'trainNow' }, 'Train on the episodes collected so far; the result goes live only if held-out episodes do not get worse'));
  actions.append(s.learning === 'paused' ? button('Resume learning', { type: 'setLearning', paused: false }) : button('Pause learning', { type: 'setLearning', paused: true }, 'Collect and train nothing until resumed'));
  return el('header', {}, el('h1', {}, 'GAPO Assistant'), el('dl', {}, ...facts.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)])), actions);
}

/**
 * The picture that explains GAPO: each group's rewards as dots, the mean GRPO subtracts, and
 * GAPO's Q (the median of the rewards' highest-density interval, drawn as a band).
 */
function groupsSection(steps: StepRecord[]): HTMLElement {
  const step = steps.at(-1);
  const groups = (step?.groups ?? []).slice(0, 12);
  if (!step || groups.length === 0) return section('groups', 'Reward groups', el('p', { class: 'empty' }, 'No training step yet: Train Now, or wait for a background run.'));
  const size = Math.max(...groups.map((g) => g.rewards.length));
  const xs = groups.map((_, i) => i + 1);
  const rewardColor = color('blue', '#3794ff');
  const meanColor = color('orange', '#d18616');
  const qColor = color('green', '#89d185');
  const points = (stroke: string, size: number) => ({ stroke, paths: () => null, points: { show: true, size, stroke, fill: stroke } });
  const series: uPlot.Series[] = [{ label: 'group' }];
  const data: (number | null)[][] = [xs];
  for (let i = 0; i < size; i++) {
    series.push({ label: i === 0 ? 'rewards' : '', ...points(rewardColor, 6) });
    data.push(groups.map((g) => g.rewards[i] ?? null));
  }
  series.push({ label: 'mean (GRPO)', ...points(meanColor, 11) }, { label: 'Q (GAPO)', ...points(qColor, 11) });
  data.push(groups.map((g) => g.mean), groups.map((g) => g.q));
  const intervalBand = (u: uPlot) => {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = qColor;
    ctx.globalAlpha = 0.25;
    const half = Math.max(4, (u.bbox.width / (groups.length + 1)) * 0.15);
    groups.forEach((g, i) => {
      const x = u.valToPos(xs[i], 'x', true);
      const top = u.valToPos(g.interval[1], 'y', true);
      const bottom = u.valToPos(g.interval[0], 'y', true);
      ctx.fillRect(x - half, top, 2 * half, Math.max(2, bottom - top));
    });
    ctx.restore();
  };
  const figure = chart(
    { scales: { x: { time: false, range: [0.5, groups.length + 0.5] } }, series, legend: { show: false }, hooks: { drawClear: [intervalBand] }, axes: [counting('group'), { label: 'reward' }] },
    data as uPlot.AlignedData,
    `Run ${step.runId}, step ${step.step}: ${groups.length} groups of ${size} rollouts.`,
  );
  const legend = el('p', { class: 'legend' }, el('span', { class: 'swatch rewards' }), 'a rollout’s reward ', el('span', { class: 'swatch mean' }), 'group mean (what GRPO subtracts) ', el('span', { class: 'swatch q' }), 'Q and its highest-density interval (what GAPO subtracts)');
  const skewed = groups.filter((g) => Math.abs(g.q - g.mean) > 0.1).length;
  return section('groups', 'Reward groups', figure, legend, el('p', {}, `${skewed} of ${groups.length} groups have Q more than 0.1 from the mean: there the two methods give different advantages.`));
}

function trainingSection(steps: StepRecord[], runs: RunRecord[]): HTMLElement {
  const parts: Node[] = [];
  if (steps.length > 0) {
    const metrics = steps.map((s) => s.metrics);
    const xs = steps.map((_, i) => i + 1);
    // A dashed line and the run's id where each run starts: the steps of successive runs follow each other.
    const starts = runStarts(steps.map((s) => s.runId));
    // Half a step of room either side: the first run's mark and name show too.
    const stepScale: uPlot.Scale = { time: false, range: [0.5, steps.length + 0.5] };
    const markRuns = (u: uPlot) => {
      const { ctx } = u;
      const { top, height } = u.bbox;
      ctx.save();
      ctx.strokeStyle = ctx.fillStyle = color('foreground', '#ccc');
      ctx.setLineDash([3, 3]);
      ctx.font = `${10 * devicePixelRatio}px sans-serif`;
      for (const { x, runId } of starts) {
        const at = u.valToPos(x - 0.5, 'x', true);
        ctx.beginPath();
        ctx.moveTo(at, top);
        ctx.lineTo(at, top + height);
        ctx.stroke();
        ctx.fillText(`run ${runId}`, at + 3 * devicePixelRatio, top + 10 * devicePixelRatio);
      }
      ctx.restore();
    };
    const line = (label: string, name: string, fallback: string, scale = 'y') => ({ label, stroke: color(name, fallback), width: 2, scale, points: { show: steps.length < 40 } });
    parts.push(
      chart({ scales: { x: stepScale }, series: [{ label: 'step' }, line('mean reward', 'blue', '#3794ff')], axes: [counting('step'), { label: 'reward' }], hooks: { draw: [markRuns] } }, [xs, metrics.map((m) => m.reward)], 'Mean reward per step (the last runs, oldest first; a dashed line where each run starts).'),
      chart(
        {
          scales: { x: stepScale },
          hooks: { draw: [markRuns] },
          series: [{ label: 'step' }, line('clip (low)', 'red', '#f14c4c'), line('clip (high)', 'purple', '#b180d7'), line('KL', 'yellow', '#cca700')],
          // KL is tiny: three significant digits, not uPlot's fixed decimals (which print "-0").
          axes: [counting('step'), { label: 'fraction / KL', size: 70, values: (_u, ticks) => ticks.map((t) => String(Number(t.toPrecision(3)))) }],
        },
        [xs, metrics.map((m) => m.clipLow ?? null), metrics.map((m) => m.clipHigh ?? null), metrics.map((m) => m.approxKl ?? null)] as uPlot.AlignedData,
        'Clipped fractions of tokens (low and high side) and the approximate KL to the old policy.',
      ),
    );
  }
  const judged = runs.filter((r) => r.eval).reverse();
  if (judged.length > 0) {
    const evals = judged.map((r) => r.eval!);
    const share = (accepted: number, shown: number) => (shown ? accepted / shown : null);
    const line = (label: string, name: string, fallback: string, dash?: number[]) => ({ label, stroke: color(name, fallback), width: 2, dash, points: { show: true } });
    parts.push(
      chart(
        {
          scales: { x: { time: false }, y: { range: [0, 1] } },
          series: [{ label: 'run' }, line('candidate saved', 'blue', '#3794ff'), line('live saved', 'foreground', '#ccc', [4, 4]), line('candidate accepted', 'green', '#89d185'), line('live accepted', 'purple', '#b180d7', [4, 4])],
          axes: [counting('run'), { label: 'share' }],
        },
        [
          judged.map((r) => r.id),
          evals.map((e) => savedShare(e.candidate)),
          evals.map((e) => savedShare(e.live)),
          evals.map((e) => share(e.candidate.accepted, e.candidate.shown)),
          evals.map((e) => share(e.live.accepted, e.live.shown)),
        ],
        'The eval gate per run: the held-out episodes typed with the candidate and with the adapter live before it; the share of characters accepted suggestions saved, and the share of shown suggestions accepted.',
      ),
    );
  }
  if (parts.length === 0) parts.push(el('p', { class: 'empty' }, 'No training run yet.'));
  return section('training', 'Training', ...parts);
}

function acceptanceSection({ acceptance }: DashboardData): HTMLElement {
  if (acceptance.length === 0) return section('acceptance', 'Acceptance', el('p', { class: 'empty' }, 'No suggestion shown yet.'));
  const days = acceptance.map((d) => Date.parse(`${d.day}T12:00:00Z`) / 1000);
  const share = (n: number, of: number) => (of > 0 ? n / of : null);
  const figure = chart(
    {
      series: [
        { label: 'day' },
        { label: 'accepted', stroke: color('green', '#89d185'), width: 2, points: { show: true } },
        { label: 'typed over', stroke: color('red', '#f14c4c'), width: 2, points: { show: true } },
        { label: 'kept (survival)', stroke: color('blue', '#3794ff'), width: 2, dash: [4, 4], points: { show: true } },
      ],
      scales: { x: { range: () => dayRange(days) }, y: { range: [0, 1] } },
      axes: [{}, { label: 'share of shown' }],
    },
    [days, acceptance.map((d) => share(d.accepted, d.shown)), acceptance.map((d) => share(d.typedOver, d.shown)), acceptance.map((d) => d.survival)],
    `Per day: the share of shown suggestions accepted and typed over, and the share of accepted text still there at the last check (${acceptance.reduce((n, d) => n + d.shown, 0)} shown).`,
  );
  return section('acceptance', 'Acceptance', figure);
}

function adaptersSection(adapters: AdapterRecord[], live: number): HTMLElement {
  const rows = [...adapters].reverse().map((a) => {
    const evaluation = a.eval;
    const judged = evaluation ? evaluationLine(evaluation) : '–';
    const gate = a.version === 0 ? 'the base model' : evaluation ? `${evaluation.verdict.deploy ? 'passed' : 'kept'}: ${gateLine(evaluation.verdict)}` : '–';
    const action = a.version === live ? el('strong', {}, 'live') : button('Make live', { type: 'makeLive', version: a.version });
    return el('tr', {}, el('td', {}, `v${a.version}`), el('td', {}, a.version === 0 ? '–' : when(a.time)), el('td', {}, judged), el('td', {}, gate), el('td', {}, action));
  });
  const head = el('tr', {}, ...['Version', 'Made', 'Held-out evaluation', 'Eval gate', ''].map((h) => el('th', {}, h)));
  return section('adapters', 'Adapter versions', el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
}

function collectedSection({ collected }: DashboardData): HTMLElement {
  if (collected.length === 0) return section('collected', 'Collected data', el('p', { class: 'empty' }, 'Nothing collected.'));
  const rows = collected.map((f) =>
    el('tr', {}, el('td', { class: 'path' }, f.path), el('td', { class: 'number' }, String(f.episodes)), el('td', { class: 'number' }, String(f.suggestions)), el('td', { class: 'number' }, String(f.edits)), el('td', {}, when(f.lastTime)), el('td', {}, button('Delete', { type: 'forget', path: f.path }, `Delete everything collected from ${f.path}`))),
  );
  const head = el('tr', {}, ...['File', 'Episodes', 'Suggestions', 'Edits', 'Last', ''].map((h) => el('th', {}, h)));
  return section(
    'collected',
    'Collected data',
    el('p', {}, 'Everything the assistant stored from your editing, per file. Deleting removes it from the database and zeroes it on disk; adapters already trained stay.'),
    el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)),
    el('div', { class: 'actions' }, button('Delete everything…', { type: 'forgetAll' })),
  );
}
