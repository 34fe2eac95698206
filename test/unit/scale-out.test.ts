// The scale-out path to verl (scale-out/verl/): its reward module and its GAPO estimator give
// what the language server's own code gives (server/src/gapo/reward.ts, gapo/advantages.ts), so a
// run in verl optimises the same thing as a run here. Runs Debian's python3.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { readEpisodes } from '../../server/src/edits/episode';
import { exportEpisodes } from '../../server/src/store/export';
import { REGION_END } from '../../server/src/edits/prompt';
import { seededRandom } from '../../server/src/edits/text';
import { computeAdvantages } from '../../server/src/gapo/advantages';
import { editAndExactMatch, editSimilarity, exactMatch } from '../../server/src/gapo/reward';
import { parseModelConfig } from '../../server/src/model/config';
import { LoraAdapter } from '../../server/src/model/lora';
import { makeModel, tempDir, testConfigs } from '../helpers/models';
import { repoRoot } from '../helpers/paths';

const verl = join(repoRoot, 'scale-out', 'verl');

function python(script: string, input: unknown[], args: string[] = []): string[] {
  const result = spawnSync('/usr/bin/python3', [join(verl, script), ...args], { input: input.map((row) => JSON.stringify(row)).join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim().split('\n');
}

/** (prediction, target) pairs from real episodes: the answer right, left unchanged, damaged, cut, with other line endings, padded, with astral characters. */
function pairs(): { prediction: string; target: string }[] {
  const random = seededRandom(31);
  const episodes = [...readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl')), ...readEpisodes(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl'))];
  const out: { prediction: string; target: string }[] = [{ prediction: '', target: '' }, { prediction: '', target: 'x' }, { prediction: ' \n', target: '' }];
  const damage = (text: string, edits: number) => {
    let t = text;
    for (let k = 0; k < edits; k++) {
      const at = Math.floor(random() * (t.length + 1));
      const pick = random();
      if (pick < 0.4) t = t.slice(0, at) + t.slice(at + 1);
      else if (pick < 0.8) t = t.slice(0, at) + 'abc_(){};\n '[Math.floor(random() * 11)] + t.slice(at);
      else t = t.slice(0, at) + '😀' + t.slice(at);
    }
    return t;
  };
  for (const e of episodes) {
    const { target, region } = e;
    out.push({ prediction: target, target });
    out.push({ prediction: region, target });
    for (const edits of [1, 3, 10, 40]) out.push({ prediction: damage(target, edits), target });
    out.push({ prediction: target.slice(0, Math.floor(random() * target.length)), target });
    out.push({ prediction: target.replace(/\n/g, '\r\n'), target });
    out.push({ prediction: `\u00a0\ufeff ${target}\t\n`, target });
    out.push({ prediction: `\u001c${target}`, target }); // a separator JavaScript's trim keeps and Python's strip would drop
    out.push({ prediction: damage(region, 5), target: `🚀${target}` });
    out.push({ prediction: target, target: region });
    while (out.length % 20 !== 0) out.push({ prediction: damage(target, 2), target: damage(target, 2) });
  }
  return out;
}

describe('scale-out to verl', () => {
  it('scores exact match, edit similarity and edem as the server does, to 1e-9, on over 1,000 pairs', () => {
    const all = pairs();
    assert.ok(all.length >= 1000, `${all.length} pairs`);
    const metrics = { em: exactMatch, edit: editSimilarity, edem: editAndExactMatch } as const;
    for (const [metric, score] of Object.entries(metrics)) {
      const got = python('reward.py', all.map((p) => ({ metric, ...p })));
      assert.equal(got.length, all.length);
      all.forEach((p, i) => {
        const want = score(p.prediction, p.target);
        assert.ok(Math.abs(Number(got[i]) - want) <= 1e-9, `${metric} of pair ${i} ${JSON.stringify(p).slice(0, 200)}: python ${got[i]}, server ${want}`);
      });
    }
  });

  it("scores a verl answer as the engine reads one: the region cut at its end marker; other data sources are refused", () => {
    const script = [
      'import sys; sys.path.insert(0, sys.argv[1]); import reward',
      `print(reward.compute_score('gapo-assistant/edits', 'let x = 1;\\n${REGION_END}junk after', 'let x = 1;\\n'))`,
      `print(reward.compute_score('gapo-assistant/edits', 'let x = 2;', 'let x = 1;'))`,
      "try:\n    reward.compute_score('openai/gsm8k', '1', '1')\nexcept NotImplementedError as e:\n    print('refused', e)",
    ].join('\n');
    const result = spawnSync('/usr/bin/python3', ['-c', script, verl], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    const [cut, wrong, refused] = result.stdout.trim().split('\n');
    assert.equal(Number(cut), 1);
    assert.ok(Math.abs(Number(wrong) - editAndExactMatch('let x = 2;', 'let x = 1;')) < 1e-12);
    assert.match(refused, /^refused .*gapo-assistant\/edits/);
  });

  it("computes GAPO's advantages as gapo/advantages.ts does, on groups with ties and outliers, for several τ", () => {
    const random = seededRandom(5);
    const groups: { rewards: number[]; tau: number }[] = [];
    for (let k = 0; k < 400; k++) {
      const size = 1 + Math.floor(random() * 16);
      const rewards = Array.from({ length: size }, () => {
        const pick = random();
        if (pick < 0.3) return Math.round(random() * 4) / 4; // ties
        if (pick < 0.4) return random() < 0.5 ? -0.25 : 1.75; // the outcome bonus's ends
        if (pick < 0.45) return (random() - 0.5) * 100; // outliers
        return random();
      });
      if (k % 10 === 0) rewards.fill(rewards[0]); // a constant group
      groups.push({ rewards, tau: [0.3, 0.5, 0.7, 1][k % 4] });
    }
    const got = python('gapo.py', groups).map((line) => (JSON.parse(line) as string[]).map(Number));
    groups.forEach(({ rewards, tau }, i) => {
      const [want] = computeAdvantages([rewards], 'gapo', { tau });
      assert.equal(got[i].length, want.length);
      want.forEach((a, j) => assert.ok(Math.abs(got[i][j] - a) <= 1e-9 * Math.max(1, Math.abs(a)), `group ${i} ${JSON.stringify(rewards)} τ ${tau}: python ${got[i][j]}, server ${a}`));
    });
  });

  it("brings verl's adapter back: its merger's lora_alpha of 0 is refused with the way out, and convert.py sets the run's alpha", () => {
    makeModel('qwen2-tied-bias'); // the shapes below are this test model's
    const config = parseModelConfig(testConfigs['qwen2-tied-bias']);
    const trained = LoraAdapter.create(config, { rank: 4, alpha: 8, seed: 3 });
    const random = seededRandom(8);
    for (const m of trained.modules.values()) m.b.forEach((_, i) => (m.b[i] = random() - 0.5));
    // What verl's model merger writes: PEFT's names and layout, lora_alpha 0.
    const merged = tempDir('verl-lora');
    trained.save(merged);
    const peft = JSON.parse(readFileSync(join(merged, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(merged, 'adapter_config.json'), JSON.stringify({ ...peft, lora_alpha: 0 }));
    assert.throws(() => LoraAdapter.load(merged, config), /lora_alpha must be a positive number, got 0 .*convert\.py/);
    const ready = join(tempDir('verl-lora-ready'), 'adapter');
    const result = spawnSync('/usr/bin/python3', [join(verl, 'convert.py'), merged, ready, '--alpha', '8', '--base', 'Qwen/Qwen2.5-Coder-0.5B-Instruct'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /gapo adapter import/);
    const back = LoraAdapter.load(ready, config);
    assert.equal(back.scale, trained.scale);
    for (const [module, m] of trained.modules) assert.deepEqual(back.modules.get(module)!.b, m.b, module);
    const refused = spawnSync('/usr/bin/python3', [join(verl, 'convert.py'), merged, ready, '--alpha', '0'], { encoding: 'utf8' });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /--alpha must be positive/);
  });

  it("reads an exported verl Parquet file from Python: every row's ground truth, answered exactly, scores 1 with compute_score", () => {
    const episodes = [...readEpisodes(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl')), ...readEpisodes(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl'))];
    const file = join(tempDir('verl-export'), 'train.parquet');
    exportEpisodes(episodes, 'verl', file);
    const script = [
      'import json, sys',
      'sys.path[:0] = [sys.argv[1], sys.argv[2]]',
      'import parquet_read, reward',
      "for row in parquet_read.read(sys.argv[3], {'data_source', 'reward_model.ground_truth', 'extra_info.id', 'extra_info.split'}):",
      "    truth = row['reward_model.ground_truth']",
      `    score = reward.compute_score(row['data_source'], truth + '${REGION_END}' + 'after the end', truth)`,
      "    print(json.dumps({'id': row['extra_info.id'], 'split': row['extra_info.split'], 'truth': truth, 'score': score}))",
    ].join('\n');
    const result = spawnSync('/usr/bin/python3', ['-c', script, join(repoRoot, 'test', 'reference'), verl, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.equal(result.status, 0, result.stderr);
    const rows = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; split: string; truth: string; score: number });
    assert.equal(rows.length, episodes.length);
    rows.forEach((row, i) => {
      assert.equal(row.id, episodes[i].id);
      assert.equal(row.truth, episodes[i].target, `row ${i}: the ground truth read from Python is the episode's target`);
      assert.equal(row.split, 'train');
      assert.equal(row.score, 1, `row ${i}`);
    });
  });
});
