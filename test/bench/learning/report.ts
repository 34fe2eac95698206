// The learning benchmark's report: README.md with its tables, and the plots beside it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TypingStats } from '../../../server/src/replay/typing';
import type { GainRecord, Results, RunRecord } from './learning.bench';
import { groupedBarChart, lineChart, rewardStrips } from './svg';

/** The share of the inserted characters that came from accepted suggestions. */
export const saved = (t: TypingStats) => (t.charsTotal ? t.charsSaved / t.charsTotal : 0);

/** Two-sided 95% Student t quantiles by degrees of freedom (1–10); beyond, the normal's. */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

export function meanAndSpread(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { mean, sd };
}

/** The mean of paired differences and its 95% confidence half-width (t over the pairs); null half-width with one pair. */
export function pairedDifference(a: number[], b: number[]): { mean: number; halfWidth: number | null } {
  const d = a.map((x, i) => x - b[i]);
  const { mean, sd } = meanAndSpread(d);
  const df = d.length - 1;
  return { mean, halfWidth: df >= 1 ? (T95[df - 1] ?? 1.96) * (sd / Math.sqrt(d.length)) : null };
}

const points = (x: number) => (100 * x).toFixed(1);
const signed = (x: number) => `${x >= 0 ? '+' : ''}${points(x)}`;
const cell = (values: number[]) => {
  const { mean, sd } = meanAndSpread(values);
  return values.length > 1 ? `${points(mean)} ± ${points(sd)}` : points(mean);
};

type Metric = { name: string; of: (r: RunRecord) => number };
const METRICS: Metric[] = [
  { name: 'in-domain exact match', of: (r) => r.inDomain.exactMatch },
  { name: 'in-domain edit similarity', of: (r) => r.inDomain.editSimilarity },
  { name: 'out-of-domain exact match', of: (r) => r.outOfDomain.exactMatch },
  { name: 'out-of-domain edit similarity', of: (r) => r.outOfDomain.editSimilarity },
  { name: 'chars saved', of: (r) => saved(r.typing) },
];

export function writeReport(out: string, results: Results): void {
  mkdirSync(out, { recursive: true });
  const noises = [...new Set(results.runs.map((r) => r.noise))];
  const arms = [...new Set(results.runs.map((r) => r.arm))];
  const runsOf = (arm: string, noise: string) => results.runs.filter((r) => r.arm === arm && r.noise === noise).sort((a, b) => a.seed - b.seed);
  const s = results.settings;
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more);

  push(
    '# Learning benchmark: GAPO, GRPO and Dr. GRPO on real edits with noisy feedback',
    '',
    `Made by \`npm run bench:learning${s.quick ? ' -- --quick' : ''}\` on ${results.startedAt.slice(0, 10)} in ${results.minutes.toFixed(0)} minutes (${s.quick ? 'the quick mode: a smoke check, its figures mean nothing' : 'the full run'}).`,
    '',
    `- Model: \`${basename(results.model)}\` (${results.model.endsWith('models/default') ? 'the bundled default model' : results.model}); a rank-${s.rank} LoRA (alpha ${s.alpha}) per run, learning rate ${s.learningRate}, ${s.steps} steps of ${s.promptsPerStep} prompts × G = ${s.group} rollouts (temperature 1, up to ${s.maxTokens} tokens), reward edem (the mean of exact match and edit similarity), PPO-clip 0.2/0.28 over ${s.epochs} epochs of each step's rollouts.`,
    `- Training: ${results.train.map((f) => `\`${basename(f)}\``).join(', ')}; each seed draws ${s.steps * s.promptsPerStep} of its episodes, the same ones in the same order for every arm and noise. Each prompt carries what the untrained model showed there, if anything, with the bonus of the simulated user's verdict (+0.75 kept, −0.25 typed over), as the server trains.`,
    `- In domain: the first ${s.inDomain} episodes (oldest first) of ${results.inDomainTests.map((f) => `\`${basename(f)}\``).join(', ') || 'none'}; out of domain: the first ${s.outOfDomain} of each of ${results.outOfDomainTests.map((f) => `\`${basename(f)}\``).join(', ') || 'none'}. Greedy answers at each episode's cursor, scored as \`gapo eval\` scores them; chars saved: the first ${s.typing} in-domain episodes typed through the language server with the trained adapter (\`gapo replay --typing\`).`,
    `- Seeds: ${s.seeds.join(', ')}. Noise: flips exchange the recorded verdict (accepted ↔ typed over) with the given probability; outliers replace that share of rollout rewards by 3; half-finished replaces that share of training targets by the edit half typed. The τ arms ran under ${s.tauNoises.map((n) => (n.kind === 'clean' ? 'clean' : `${n.kind} ${n.level}`)).join(', ')} only.`,
    '',
    'Figures in points (percent); mean ± standard deviation over seeds.',
    '',
  );

  push(...summary(results, noises, runsOf), '');

  push('## GAPO against GRPO', '', 'GAPO (τ = 0.5) minus GRPO, paired by seed, with a 95% confidence interval (Student t over the seeds):', '');
  push(`| noise | ${METRICS.map((m) => m.name).join(' | ')} |`, `| --- | ${METRICS.map(() => '---').join(' | ')} |`);
  for (const noise of noises) {
    const gapo = runsOf('gapo', noise);
    const grpo = runsOf('grpo', noise);
    if (!gapo.length || gapo.length !== grpo.length) continue;
    const cells = METRICS.map((m) => {
      const d = pairedDifference(gapo.map(m.of), grpo.map(m.of));
      return d.halfWidth === null ? signed(d.mean) : `${signed(d.mean)} [${signed(d.mean - d.halfWidth)}, ${signed(d.mean + d.halfWidth)}]`;
    });
    push(`| ${noise} | ${cells.join(' | ')} |`);
  }
  push('');

  push('## Every arm', '');
  push(`| noise | arm | ${METRICS.map((m) => m.name).join(' | ')} | clipped | groups with Q ≠ mean (> 0.1) | tokens/s |`, `| --- | --- | ${METRICS.map(() => '---').join(' | ')} | --- | --- | --- |`);
  for (const noise of noises) {
    for (const arm of arms) {
      const runs = runsOf(arm, noise);
      if (!runs.length) continue;
      const trained = arm !== 'none';
      push(`| ${noise} | ${arm} | ${METRICS.map((m) => cell(runs.map(m.of))).join(' | ')} | ${trained ? cell(runs.map((r) => r.clipFraction)) : '–'} | ${trained ? cell(runs.map((r) => r.qFarFromMean)) : '–'} | ${trained ? meanAndSpread(runs.map((r) => r.tokensPerSecond)).mean.toFixed(0) : '–'} |`);
    }
  }
  const untrained = results.runs.find((r) => r.arm === 'none');
  if (untrained) {
    push('', `Leaving the region unchanged scores edit similarity ${points(untrained.inDomain.baselineEditSimilarity)} in domain and ${points(untrained.outOfDomain.baselineEditSimilarity)} out of domain.`);
  }
  push('');

  // Plots.
  const trainedArms = arms.filter((a) => a !== 'none');
  const curveSeries = (noise: string, value: (p: RunRecord['curve'][number]) => number) =>
    trainedArms
      .map((arm) => {
        const runs = runsOf(arm, noise);
        const steps = runs[0]?.curve.map((p) => p.step) ?? [];
        return { name: arm, points: steps.map((step) => ({ x: step, y: 100 * meanAndSpread(runs.map((r) => value(r.curve.find((p) => p.step === step)!))).mean })) };
      })
      .filter((series) => series.points.length);
  writeFileSync(join(out, 'exact-match-by-step.svg'), lineChart(curveSeries('clean', (p) => p.exactMatch), 'In-domain exact match while training (clean feedback, mean over seeds)', 'training step', 'exact match (%)'));
  writeFileSync(join(out, 'edit-similarity-by-step.svg'), lineChart(curveSeries('clean', (p) => p.editSimilarity), 'In-domain edit similarity while training (clean feedback, mean over seeds)', 'training step', 'edit similarity (%)'));
  const barArms = arms.filter((a) => !a.startsWith('gapo τ'));
  writeFileSync(
    join(out, 'chars-saved.svg'),
    groupedBarChart(
      noises,
      barArms.map((arm) => {
        const stats = noises.map((noise) => meanAndSpread(runsOf(arm, noise).map((r) => 100 * saved(r.typing))));
        return { name: arm === 'none' ? 'none (before)' : arm, values: stats.map((x) => x.mean), spreads: stats.map((x) => x.sd) };
      }),
      'Characters saved typing in-domain edits, after training (bars: ± sd over seeds)',
      'characters saved (%)',
    ),
  );
  const strips = results.runs
    .filter((r) => r.arm === 'gapo' && r.seed === results.settings.seeds[0])
    .flatMap((r) => [...r.groups].sort((a, b) => Math.abs(b.q - b.mean) - Math.abs(a.q - a.mean)).slice(0, 2).map((g) => ({ label: `${r.noise}, ${g.id.slice(0, 8)}`, rewards: g.rewards, mean: g.mean, q: g.q })));
  if (strips.length) writeFileSync(join(out, 'reward-groups.svg'), rewardStrips(strips, 'Rewards of real groups (first GAPO step, seed 0): mean against Q'));
  push(
    '## Plots',
    '',
    '![exact match by step](exact-match-by-step.svg)',
    '',
    '![edit similarity by step](edit-similarity-by-step.svg)',
    '',
    '![characters saved](chars-saved.svg)',
    '',
    ...(strips.length ? ['![reward groups](reward-groups.svg)', ''] : []),
  );

  push(...gainSection(results.gain));
  writeFileSync(join(out, 'README.md'), lines.join('\n') + '\n');
}

/** The headline: how far training moved anything, and where GAPO and GRPO differ beyond noise. */
function summary(results: Results, noises: string[], runsOf: (arm: string, noise: string) => RunRecord[]): string[] {
  const untrained = results.runs.find((r) => r.arm === 'none');
  const trained = results.runs.filter((r) => r.arm !== 'none');
  if (!untrained || !trained.length) return [];
  const moves = (of: (r: RunRecord) => number) => trained.map((r) => of(r) - of(untrained));
  const range = (values: number[]) => `${signed(Math.min(...values))} to ${signed(Math.max(...values))}`;
  const lines = [
    '## In short',
    '',
    `- Against the untrained model, a trained arm's in-domain edit similarity moved ${range(moves((r) => r.inDomain.editSimilarity))} points, out of domain ${range(moves((r) => r.outOfDomain.editSimilarity))}, exact match ${range(moves((r) => r.inDomain.exactMatch))} in domain, and characters saved ${range(moves((r) => saved(r.typing)))} (runs of every arm, noise and seed).`,
  ];
  const verdicts = { better: [] as string[], worse: [] as string[], unresolved: 0 };
  for (const noise of noises) {
    for (const metric of METRICS) {
      const gapo = runsOf('gapo', noise).map(metric.of);
      const grpo = runsOf('grpo', noise).map(metric.of);
      if (!gapo.length || gapo.length !== grpo.length) continue;
      const d = pairedDifference(gapo, grpo);
      if (d.halfWidth !== null && d.mean - d.halfWidth > 0) verdicts.better.push(`${metric.name} under ${noise}`);
      else if (d.halfWidth !== null && d.mean + d.halfWidth < 0) verdicts.worse.push(`${metric.name} under ${noise}`);
      else verdicts.unresolved++;
    }
  }
  lines.push(
    `- GAPO against GRPO, per noise and measure: its 95% interval lies above zero in ${verdicts.better.length} case${verdicts.better.length === 1 ? '' : 's'}${verdicts.better.length ? ` (${verdicts.better.join('; ')})` : ''}, below zero in ${verdicts.worse.length}${verdicts.worse.length ? ` (${verdicts.worse.join('; ')})` : ''}, and includes zero (or has one seed only) in ${verdicts.unresolved}.`,
  );
  return lines;
}

function gainSection(gain: GainRecord[]): string[] {
  if (!gain.length) return [];
  const s = (t: GainRecord['after']) => `${t.charsSaved} of ${t.charsTotal} (${points(saved(t))})`;
  const lines = [
    "## The user's gain",
    '',
    "The training repository's most recent training episodes replayed through the language server in time order (suggestions, accepts and typing over LSP, as `gapo replay` does), one Train Now with each estimator (the server's own eval gate decides whether the adapter goes live), then the in-domain test episodes typed:",
    '',
    '| estimator | seed | gate | held-out chars saved by the gate, live → candidate | chars saved before | after |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const g of gain.filter((x) => x.arm !== 'none')) {
    const evals = g.live && g.candidate ? `${g.live.charsSaved} → ${g.candidate.charsSaved} of ${g.candidate.charsTotal}` : '–';
    lines.push(`| ${g.arm} | ${g.seed} | ${g.status} | ${evals} | ${g.before ? s(g.before) : '–'} | ${s(g.after)} |`);
  }
  const harmful = gain.filter((g) => g.status === 'deployed' && g.before && saved(g.after) < saved(g.before));
  const deployed = gain.filter((g) => g.status === 'deployed');
  lines.push('', `The gate deployed ${deployed.length} of ${gain.filter((g) => g.arm !== 'none').length} candidates; ${harmful.length} of those then saved fewer characters than the untrained model.`, '');
  return lines;
}
