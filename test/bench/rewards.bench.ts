import { computeAdvantages } from '../../server/src/gapo/advantages';
import { editSimilarity, sentenceBleu } from '../../server/src/gapo/reward';
import { medianMs, table } from './timing';

function randomCode(length: number, seed: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz_(){};=+ \n';
  let state = seed;
  let out = '';
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0; // 32-bit LCG, exact in integers
    out += alphabet[(state >>> 16) % alphabet.length];
  }
  return out;
}

export function benchRewards(): void {
  const rows = [];
  for (const size of [1_000, 10_000]) {
    const a = randomCode(size, 1);
    const b = randomCode(size, 2);
    const close = a.slice(0, size / 2) + 'changed' + a.slice(size / 2 + 7);
    rows.push({ metric: 'edit similarity', size: `${size / 1000} kB`, 'unrelated (ms)': medianMs(() => editSimilarity(a, b)).toFixed(2), 'one change (ms)': medianMs(() => editSimilarity(a, close)).toFixed(2) });
    rows.push({ metric: 'sentence BLEU', size: `${size / 1000} kB`, 'unrelated (ms)': medianMs(() => sentenceBleu(a, b)).toFixed(2), 'one change (ms)': medianMs(() => sentenceBleu(a, close)).toFixed(2) });
  }
  table(rows);

  const groups = Array.from({ length: 1024 }, (_, g) => Array.from({ length: 8 }, (_, i) => ((g * 31 + i * 17) % 100) / 100));
  console.log();
  table(
    (['gapo', 'grpo', 'drgrpo'] as const).map((estimator) => {
      const ms = medianMs(() => computeAdvantages(groups, estimator));
      return { estimator, 'groups of 8': groups.length, 'ms per batch': ms.toFixed(2), 'groups/s': Math.round((groups.length / ms) * 1000) };
    }),
  );
}
