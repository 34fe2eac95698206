import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Engine } from '../../server/src/model/engine';
import { readSafetensorsHeader, readTensorAsFloat32, writeSafetensors } from '../../server/src/model/safetensors';
import { TextTokenizer } from '../../server/src/model/tokenizer';
import { ModelWeights } from '../../server/src/model/weights';
import { readModelConfig } from '../../server/src/model/config';
import { qwenTokenizerDir } from '../../server/src/model/init-model';
import { makeModel, tempDir } from '../helpers/models';
import { ReferenceModel } from '../helpers/reference-model';

const cacheDir = tempDir('cache');
const load = (modelDir: string) => Engine.load({ modelDir, cacheDir, threads: 1 });

describe('safetensors', () => {
  it('stores F16 and BF16 with correct rounding and reads them back as float32', () => {
    const dir = tempDir('st');
    const values = Float32Array.from([1, -2.5, 0.1, 65504, 1e-5, 0, -0, 3.140625]);
    for (const [dtype, expected] of [
      ['BF16', [1, -2.5, 0.10009765625, 65536, 0.000010013580322265625, 0, -0, 3.140625]],
      ['F16', [1, -2.5, 0.0999755859375, 65504, 0.000010013580322265625, 0, -0, 3.140625]],
      ['F32', Array.from(values)],
    ] as const) {
      const file = join(dir, `${dtype}.safetensors`);
      writeSafetensors(file, [{ name: 'x', shape: [2, 4], data: values }], {}, dtype);
      const [entry] = readSafetensorsHeader(file).tensors;
      assert.equal(entry.dtype, dtype);
      assert.deepEqual(entry.shape, [2, 4]);
      assert.deepEqual(Array.from(readTensorAsFloat32(entry)), expected, dtype);
    }
  });
});

describe('loading model directories', () => {
  it('loads BF16 and F16 checkpoints and matches the reference on the same weights', async () => {
    for (const dtype of ['BF16', 'F16'] as const) {
      const dir = makeModel('qwen2-tied-bias', { dtype });
      const engine = await load(dir);
      const ids = [10, 20, 30, 40];
      const { logits } = await engine.prefill(ids);
      const want = new ReferenceModel(dir).logits(ids)[3];
      const diff = Math.max(...Array.from(logits, (v, i) => Math.abs(v - want[i])));
      assert.ok(diff < 1e-4, `${dtype}: max |Δlogit| ${diff}`);
      await engine.dispose();
    }
  });

  it('loads a sharded checkpoint through model.safetensors.index.json', async () => {
    const whole = makeModel('llama-gqa-untied');
    const sharded = makeModel('llama-gqa-untied');
    const config = readModelConfig(whole);
    const weights = ModelWeights.open(whole, config);
    const names = weights.specs.map((s) => s.name);
    const half = Math.floor(names.length / 2);
    const shards = { 'model-00001-of-00002.safetensors': names.slice(0, half), 'model-00002-of-00002.safetensors': names.slice(half) };
    rmSync(join(sharded, 'model.safetensors'));
    const weightMap: Record<string, string> = {};
    for (const [file, subset] of Object.entries(shards)) {
      writeSafetensors(join(sharded, file), subset.map((name) => ({ name, shape: weights.entries.get(name)!.shape, data: weights.read(name) })));
      for (const name of subset) weightMap[name] = file;
    }
    writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const a = await load(whole);
    const b = await load(sharded);
    assert.deepEqual((await b.prefill([5, 6, 7])).logits, (await a.prefill([5, 6, 7])).logits);
    await a.dispose();
    await b.dispose();
  });

  const broken: [string, (dir: string) => void, RegExp][] = [
    ['a missing config.json', (dir) => rmSync(join(dir, 'config.json')), /config\.json: cannot read the model's config \(ENOENT\)/],
    ['another architecture', (dir) => editConfig(dir, { architectures: ['GPT2LMHeadModel'] }), /architecture GPT2LMHeadModel is not supported/],
    ['a missing tokenizer.json', (dir) => rmSync(join(dir, 'tokenizer.json')), /tokenizer\.json: cannot read \(ENOENT\)/],
    ['no safetensors file', (dir) => rmSync(join(dir, 'model.safetensors')), /no \*\.safetensors file/],
    ['a truncated safetensors file', (dir) => truncateSync(join(dir, 'model.safetensors'), statSize(join(dir, 'model.safetensors')) - 100), /model\.safetensors: tensor [\w.]+ ends at byte \d+, past the end of the file .*truncated/],
    ['a config that disagrees with a tensor', (dir) => editConfig(dir, { intermediate_size: 64 }), /model\.safetensors: tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[48,32\], but config\.json implies \[64,32\]/],
    ['a missing tensor', (dir) => editConfig(dir, { num_hidden_layers: 3 }), /tensor model\.layers\.2\.input_layernorm\.weight is missing/],
    ['a tensor of the wrong dtype', (dir) => retypeTensor(dir, 'model.norm.weight'), /model\.safetensors: tensor model\.norm\.weight is I32; expected F32, F16 or BF16/],
    ['a corrupt header', (dir) => writeFileSync(join(dir, 'model.safetensors'), Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{not json!!!!!!}')), /model\.safetensors: the header is not valid JSON/],
  ];
  for (const [what, breakIt, message] of broken) {
    it(`fails clearly on ${what}`, async () => {
      const dir = makeModel('llama-gqa-untied');
      breakIt(dir);
      await assert.rejects(load(dir), message);
    });
  }
});

describe('tokenizers', () => {
  const code = [
    'def add(a, b):\n    """Sum."""\n    return a + b\n',
    'export const f = async <T,>(x: T): Promise<T> => { await sleep(1); return x; };\r\n',
    'fn main() {\n\tlet s = "héllo wörld 😀";\n\tprintln!("{s}");\n}\n',
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); }\n',
    'SELECT name, COUNT(*) FROM users WHERE id > 10 GROUP BY name;  -- 日本語\n',
    '    \n\n\t\t  trailing spaces   \n',
  ];
  for (const [name, dir] of [
    ['byte-level', makeModel('qwen2-tied-bias')],
    ['Qwen2.5', qwenTokenizerDir()],
  ]) {
    it(`${name} tokenizer round-trips code in several languages`, () => {
      const tokenizer = TextTokenizer.load(dir);
      for (const text of code) {
        const ids = tokenizer.encode(text);
        assert.ok(ids.length > 0);
        assert.equal(tokenizer.decode(ids), text);
      }
    });
  }

  it('finds the Qwen2.5 end-of-text and FIM tokens', () => {
    const tokenizer = TextTokenizer.load(qwenTokenizerDir(), [151643]);
    assert.ok(tokenizer.eosIds.includes(151643));
    assert.equal(tokenizer.tokenId('<|fim_prefix|>'), 151659);
    assert.equal(tokenizer.encode('def add(a, b):').length, 6);
  });
});

function editConfig(dir: string, changes: Record<string, unknown>): void {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...changes }));
}

function statSize(file: string): number {
  return readFileSync(file).length;
}

/** Rewrites one tensor of model.safetensors as int32 (same byte size). */
function retypeTensor(dir: string, name: string): void {
  const file = join(dir, 'model.safetensors');
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  header[name].dtype = 'I32';
  let json = JSON.stringify(header);
  json += ' '.repeat(headerLength - Buffer.byteLength(json));
  writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), Buffer.from(json), bytes.subarray(8 + headerLength)]));
}
