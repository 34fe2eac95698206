// The `gapo` CLI as a user runs it: the built bundle in a child process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parquetReadObjects } from 'hyparquet';
import { heldOutSize } from '../../server/src/gapo/learner';
import { defaultTrainingSettings } from '../../server/src/gapo/training-job';
import { Store } from '../../server/src/store/store';
import { LoraAdapter } from '../../server/src/model/lora';
import { readModelConfig } from '../../server/src/model/config';
import { cliPath as CLI, repoRoot } from '../helpers/paths';

function gapo(args: string[], stdin = '') {
  const result = spawnSync(process.execPath, [CLI, ...args], { input: stdin, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('gapo --help', () => {
  it('lists the commands, and every command has its own help', () => {
    const { code, stdout } = gapo(['--help']);
    assert.equal(code, 0);
    for (const name of ['advantages', 'reward', 'corpus', 'tokenizer', 'pretrain', 'sft', 'ship-model', 'replay']) {
      assert.match(stdout, new RegExp(`^  ${name} `, 'm'));
      const help = gapo([name, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: gapo ${name}`));
    }
  });

  it('exits 2 on an unknown command', () => {
    const { code, stderr } = gapo(['frobnicate']);
    assert.equal(code, 2);
    assert.match(stderr, /unknown command "frobnicate"/);
  });
});

describe('gapo advantages', () => {
  it('reads groups on stdin and prints advantages and stats', () => {
    const { code, stdout } = gapo(['advantages'], JSON.stringify({ groups: [[1, 0, 0, 0], [0.5]] }));
    assert.equal(code, 0);
    const out = JSON.parse(stdout);
    assert.equal(out.advantages.length, 2);
    assert.deepEqual(out.advantages[1], [0]);
    assert.equal(out.stats[0].q, 0);
    assert.equal(out.stats[0].mean, 0.25);
    assert.ok(out.advantages[0][0] > 0 && out.advantages[0][1] === 0);
  });

  it('honours --estimator, --tau, --q and --no-scale', () => {
    const input = JSON.stringify({ groups: [[1, 0, 0, 0]] });
    const drgrpo = JSON.parse(gapo(['advantages', '--estimator', 'drgrpo'], input).stdout);
    assert.deepEqual(drgrpo.advantages, [[0.75, -0.25, -0.25, -0.25]]);
    const unscaled = JSON.parse(gapo(['advantages', '--tau', '1', '--q', 'mean', '--no-scale'], input).stdout);
    assert.deepEqual(unscaled.advantages, [[0.75, -0.25, -0.25, -0.25]]);
  });

  for (const [what, input, message] of [
    ['bad JSON', '{"groups": [[1, 2]', /not valid JSON/],
    ['a missing groups field', '{"rewards": []}', /expected \{"groups"/],
    ['a non-finite reward', '{"groups": [[0, 1], [1e999, 0]]}', /prompt #1: reward 0 is not a finite number/],
    ['a non-numeric reward', '{"groups": [["1", 0]]}', /prompt #0: reward 0/],
  ] as const) {
    it(`exits 2 with a one-line error on ${what}`, () => {
      const { code, stdout, stderr } = gapo(['advantages'], input);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1);
    });
  }

  it('exits 2 on an unknown estimator or option', () => {
    assert.equal(gapo(['advantages', '--estimator', 'ppo'], '{"groups":[]}').code, 2);
    assert.equal(gapo(['advantages', '--tau', 'x'], '{"groups":[]}').code, 2);
    assert.equal(gapo(['advantages', '--bogus'], '{"groups":[]}').code, 2);
  });
});

describe('gapo reward', () => {
  it('scores strings and files', () => {
    assert.equal(gapo(['reward', '--metric', 'edit', '--prediction', 'kitten', '--target', 'sitting']).stdout.trim(), String(1 - 3 / 7));
    const dir = mkdtempSync(join(tmpdir(), 'gapo-reward-'));
    writeFileSync(join(dir, 'p.ts'), 'const a = 1;\r\n');
    writeFileSync(join(dir, 't.ts'), 'const a = 1;\n');
    const all = gapo(['reward', '--metric', 'all', '--prediction-file', join(dir, 'p.ts'), '--target-file', join(dir, 't.ts')]);
    assert.equal(all.code, 0);
    assert.deepEqual(JSON.parse(all.stdout), { em: 1, edit: 1, edem: 1, bleu: 1 });
  });

  it('exits 2 on a missing input, a missing file or an unknown metric', () => {
    assert.equal(gapo(['reward', '--prediction', 'a']).code, 2);
    const missing = gapo(['reward', '--prediction', 'a', '--target-file', '/nonexistent/t']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /ENOENT/);
    assert.equal(gapo(['reward', '--metric', 'rouge', '--prediction', 'a', '--target', 'a']).code, 2);
  });
});

describe('gapo init-model, generate and logprobs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gapo-cli-model-'));
  const model = join(dir, 'model');
  const cache = ['--cache', join(dir, 'cache'), '--threads', '1'];

  it('writes a random model that generate and logprobs can use', () => {
    const init = gapo(['init-model', '--preset', 'tiny', '--out', model, '--seed', '3']);
    assert.equal(init.code, 0, init.stderr);
    const generated = gapo(['generate', '--model', model, ...cache, '--prompt', 'let x', '--max-tokens', '5', '--json', '--samples', '2', '--temperature', '1']);
    assert.equal(generated.code, 0, generated.stderr);
    const samples = JSON.parse(generated.stdout);
    assert.equal(samples.length, 2);
    // --dtype q4 serves the same model from 4-bit blocks, and says so.
    const small = gapo(['generate', '--model', model, ...cache, '--prompt', 'let x', '--max-tokens', '3', '--dtype', 'q4']);
    assert.equal(small.code, 0, small.stderr);
    assert.match(small.stderr, /, q4, /);
    assert.equal(samples[0].tokens.length, samples[0].logprobs.length);

    const ids = join(dir, 'ids.json');
    writeFileSync(ids, JSON.stringify({ ids: [[108, 101, 116, 32, 120], [97, 98]], start: [2, 1] }));
    const scored = JSON.parse(gapo(['logprobs', '--model', model, ...cache, '--input', ids]).stdout);
    assert.equal(scored.logprobs[0].length, 3);
    assert.equal(scored.logprobs[1].length, 1);
    assert.ok(scored.logprobs.flat().every((lp: number) => lp < 0));
    // The same continuation given as text scores the same ("let" + " x").
    const text = JSON.parse(gapo(['logprobs', '--model', model, ...cache, '--text', 'le', '--text', 't x']).stdout);
    assert.deepEqual(text.logprobs[0], scored.logprobs[0]);
  });

  it('exits 2 with one line on a missing model, bad options or a bad input file', () => {
    for (const args of [
      ['generate', '--model', join(dir, 'missing'), '--prompt', 'x'],
      ['generate', '--model', model, '--prompt', 'x', '--temperature', '-1'],
      ['generate', '--model', model, '--prompt', 'x', '--provider', 'tpu'],
      ['generate', '--model', model, '--prompt', 'x', '--dtype', 'q3'],
      ['logprobs', '--model', model, '--text', 'only-one'],
      ['logprobs', '--model', model, '--input', join(dir, 'nope.json')],
      ['init-model', '--preset', 'huge', '--out', join(dir, 'x')],
      ['init-model', '--preset', 'tiny'],
    ]) {
      const result = gapo([...args, ...(args[0] === 'init-model' ? [] : cache)]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});

describe('the default model\'s recipe commands', () => {
  it('exit 2 with one line on missing or bad input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gapo-cli-recipe-'));
    const episodes = mkdtempSync(join(tmpdir(), 'gapo-cli-episodes-'));
    copyFileSync(join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'), join(episodes, 'ky.train.jsonl'));
    for (const [args, message] of [
      [['corpus'], /missing --out/],
      [['tokenizer', '--corpus', join(dir, 'none'), '--out', dir], /missing|cannot read|ENOENT/],
      [['tokenizer', '--corpus', dir, '--out', dir, '--vocab', '100'], /at least 264/],
      [['pretrain', '--corpus', dir, '--tokenizer', dir, '--shape', 'huge', '--out', dir, '--steps', '1'], /unknown --shape huge/],
      [['pretrain', '--corpus', dir, '--tokenizer', dir, '--shape', 'code-3m', '--out', dir], /missing --steps/],
      [['sft', '--model', join(dir, 'none'), '--episodes', dir, '--corpus', dir, '--out', dir, '--steps', '1'], /no config.json/],
      [['ship-model', '--out', dir], /missing --model/],
      [['replay', '--typing', '--git', '.'], /--typing needs --episodes/],
      [['replay', '--typing', '--episodes', dir, '--min-probability', '2'], /--min-probability must be a probability/],
      [['sft', '--model', join(repoRoot, 'models', 'default'), '--episodes', episodes, '--corpus', dir, '--out', dir, '--steps', '1', '--format', 'chat'], /unknown prompt format "chat"/],
      [['sft', '--model', join(repoRoot, 'models', 'default'), '--episodes', episodes, '--corpus', dir, '--out', dir, '--steps', '1', '--mix', 'episode=1,typing=2'], /unknown example kind "typing"/],
      [['eval', '--episodes', join(repoRoot, 'test', 'fixtures', 'ky-2023.jsonl'), '--limit', '1', '--prompt-format', 'chat', '--cache', join(dir, 'cache')], /unknown prompt format "chat"/],
      [['adapter', 'export', dir], /unknown action export/],
      [['adapter', 'import', dir], /no adapter_config\.json/],
    ] as const) {
      const result = gapo([...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });
});

describe('gapo train and eval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gapo-cli-train-'));
  const model = join(dir, 'model');
  const adapter = join(dir, 'adapter');
  const episodes = join(repoRoot, 'test', 'fixtures', 'episodes.jsonl');
  const common = ['--model', model, '--cache', join(dir, 'cache'), '--threads', '1'];

  it('trains an adapter on episodes, saves it in PEFT layout, and evaluates it', () => {
    assert.equal(gapo(['init-model', '--preset', 'tiny', '--out', model]).code, 0);
    const train = gapo(['train', ...common, '--episodes', episodes, '--adapter-out', adapter, '--steps', '2', '--group', '3', '--prompts-per-step', '2', '--max-tokens', '6', '--rank', '4', '--lr', '1e-3', '--json']);
    assert.equal(train.code, 0, train.stderr);
    const steps = train.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(steps.length, 2);
    for (const step of steps) {
      assert.equal(step.groups.length, 2);
      assert.equal(step.groups[0].rewards.length, 3);
      assert.ok(Number.isFinite(step.loss) && step.reward >= 0 && step.reward <= 1);
    }
    assert.match(train.stderr, /step 2: reward/);
    assert.ok(existsSync(join(adapter, 'adapter_config.json')) && existsSync(join(adapter, 'adapter_model.safetensors')));

    const evaluated = gapo(['eval', ...common, '--adapter', adapter, '--episodes', episodes, '--max-tokens', '4', '--json']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const result = JSON.parse(evaluated.stdout);
    assert.equal(result.n, 4);
    assert.ok(result.exact_match >= 0 && result.edit_similarity >= 0 && result.edit_similarity <= 1);
    // The fixture's regions all differ from their targets: leaving them unchanged never matches.
    assert.equal(result.baseline.exact_match, 0);
    assert.ok(result.baseline.edit_similarity > 0.5);

    // generate and logprobs take the adapter too.
    const withAdapter = gapo(['logprobs', ...common, '--adapter', adapter, '--text', 'ab', '--text', 'cd']);
    assert.equal(withAdapter.code, 0, withAdapter.stderr);
  });

  it('exits 2 on a bad episodes file, a bad adapter or a bad estimator', () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"id": "x"}\n');
    const result = gapo(['train', ...common, '--episodes', bad, '--adapter-out', adapter]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.jsonl:1: "path" must be a string/);
    assert.equal(gapo(['train', ...common, '--episodes', episodes, '--adapter-out', adapter, '--estimator', 'ppo']).code, 2);
    const noAdapter = gapo(['eval', ...common, '--adapter', join(dir, 'missing'), '--episodes', episodes]);
    assert.equal(noAdapter.code, 2);
    assert.match(noAdapter.stderr, /no adapter config/);
  });
});

describe('gapo export --format verl --val', () => {
  it("writes verl's training and validation files: the most recent episodes, as many as the eval gate holds out, in the second", async () => {
    const data = mkdtempSync(join(tmpdir(), 'gapo-export-verl-'));
    const store = Store.open(join(data, 'gapo.db'));
    for (let i = 0; i < 30; i++) {
      store.addEpisode({ id: `e${i}`, time: 1000 + i, uri: 'file:///w/a.ts', source: 'lsp', language: 'typescript', path: '/w/a.ts', history: [], prefix: '', region: `let a = ${i};\n`, suffix: '', cursor: 0, target: `let a = ${i + 1};\n`, suggestionId: null });
    }
    store.close();
    const train = join(data, 'train.parquet');
    const val = join(data, 'val.parquet');
    const { code, stderr } = gapo(['export', '--format', 'verl', '--out', train, '--val', val, '--data', data]);
    assert.equal(code, 0, stderr);
    const read = async (file: string) => {
      const bytes = readFileSync(file);
      return (await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) })) as { extra_info: { id: string; split: string } }[];
    };
    const held = heldOutSize(30, defaultTrainingSettings);
    const [trainRows, valRows] = [await read(train), await read(val)];
    assert.deepEqual(trainRows.map((r) => r.extra_info.id), Array.from({ length: 30 - held }, (_, i) => `e${i}`));
    assert.deepEqual(valRows.map((r) => r.extra_info.id), Array.from({ length: held }, (_, i) => `e${30 - held + i}`));
    assert.ok(trainRows.every((r) => r.extra_info.split === 'train') && valRows.every((r) => r.extra_info.split === 'test'));
    assert.match(gapo(['export', '--format', 'jsonl', '--out', train, '--val', val, '--data', data]).stderr, /--val is for --format verl/);
  });
});

describe('gapo adapter import', () => {
  it('exits 1 with the gate\'s reason when the adapter is kept but not made live', () => {
    const data = mkdtempSync(join(tmpdir(), 'gapo-adapter-import-'));
    const model = join(data, 'model');
    assert.equal(gapo(['init-model', '--preset', 'tiny', '--out', model]).code, 0);
    const store = Store.open(join(data, 'gapo.db'));
    for (let i = 0; i < 30; i++) {
      store.addEpisode({ id: `e${i}`, time: 1000 + i, uri: 'file:///w/a.ts', source: 'lsp', language: 'typescript', path: '/w/a.ts', history: [], prefix: '', region: `let a = ${i};\n`, suffix: '', cursor: 0, target: `let a = ${i + 1};\n`, suggestionId: null });
    }
    store.close();
    // LoRA's B starts at zero: the adapter changes nothing, so typing with it gains nothing.
    const adapter = join(data, 'neutral');
    LoraAdapter.create(readModelConfig(model), { rank: 4, alpha: 8, seed: 1 }).save(adapter, model);
    const result = gapo(['adapter', 'import', adapter, '--data', data, '--model', model, '--cache', join(data, 'cache')]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /adapter v1 kept, not live: saved \d+ of \d+ characters typing 6 held-out episodes, v0 \d+ \(\+0; going live needs more than \+0\)/);
  });
});

describe('gapo export-model', () => {
  it('writes the bundled model as GGUF, and exits 2 with one line on a bad format, dtype, folder or adapter', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gapo-export-model-')), 'model.gguf');
    const written = gapo(['export-model', '--format', 'gguf', '--out', out, '--dtype', 'q8_0']);
    assert.equal(written.code, 0, written.stderr);
    assert.match(written.stderr, /38 tensors, .* MiB, q8_0/);
    assert.equal(readFileSync(out).subarray(0, 4).toString('latin1'), 'GGUF');
    for (const [args, message] of [
      [['--format', 'onnx', '--out', out], /unknown format onnx/],
      [['--format', 'gguf', '--out', out, '--dtype', 'q4'], /--dtype must be one of f16, q8_0, q4_0, f32, got q4/],
      [['--format', 'gguf', '--out', '/no/such/folder/m.gguf'], /no such folder/],
      [['--format', 'gguf', '--out', out, '--adapter', mkdtempSync(join(tmpdir(), 'gapo-no-adapter-'))], /no adapter config/],
    ] as const) {
      const { code, stderr } = gapo(['export-model', ...args]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, message);
      assert.equal(stderr.trim().split('\n').length, 1);
    }
  });
});
