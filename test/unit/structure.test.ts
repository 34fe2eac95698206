// Rules of the code's structure that a reviewer would otherwise have to remember, read from
// the sources themselves: where ONNX Runtime may be loaded, and where the server's own
// request names live.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import * as protocol from '../../server/src/protocol';
import { defaultGapoSettings } from '../../server/src/gapo/gapo-settings';
import { repoRoot } from '../helpers/paths';

function sources(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const all = [...sources('server/src'), ...sources('src'), ...sources('test')];
const text = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
const methods = (Object.values(protocol) as unknown[])
  .filter((v): v is { method: string } => typeof v === 'object' && v !== null && 'method' in v)
  .map((v) => v.method);

/** A file's imports of other project files: the folder under server/src/ each lands in, and whether it is type-only. */
function projectImports(file: string): { folder: string; typeOnly: boolean; spec: string }[] {
  return [...text(file).matchAll(/^import (type )?(?:[^;]*? from )?'(\.[^']+)';/gms)].map((m) => {
    const target = normalize(join(dirname(file), m[2]));
    const inside = relative('server/src', target).split('/');
    return { folder: inside.length > 1 ? inside[0] : '.', typeOnly: Boolean(m[1]), spec: m[2] };
  });
}

/** Everyone may name the wire's types (type-only imports of the protocol, the leaf). */
const isProtocolTypes = (i: { folder: string; typeOnly: boolean; spec: string }) => i.typeOnly && /(^|\/)protocol$/.test(i.spec);

const folderFiles = (folder: string) => sources(`server/src/${folder}`);

describe('structure', () => {
  it("keeps the protocol a leaf: the wire's types import nothing of the project, and the extension and the dashboard read only them", () => {
    assert.deepEqual(projectImports('server/src/protocol.ts').map((i) => i.spec), [], 'protocol.ts imports project modules');
    for (const file of sources('src')) {
      for (const m of text(file).matchAll(/from '((?:\.\.\/)+server\/src\/[^']+)'/g)) assert.match(m[1], /server\/src\/protocol$/, `${file} imports ${m[1]}`);
    }
  });

  it('types everything on the wire: no unknown or any in the protocol', () => {
    const code = text('server/src/protocol.ts').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    assert.deepEqual(code.match(/\b(unknown|any)\b/g) ?? [], []);
  });

  it('keeps the domain vocabulary (edits/) free of every other folder of the project but the protocol\'s types', () => {
    const files = folderFiles('edits');
    assert.ok(files.length >= 5);
    for (const file of files) for (const i of projectImports(file)) assert.ok(i.folder === 'edits' || isProtocolTypes(i), `${file} imports ${i.spec}`);
  });

  it('writes each GAPO default once, in gapo/gapo-settings.ts (or the estimator\'s options it reads)', () => {
    // A default written again elsewhere drifts: `gapo train` once trained at 1e-5 while the server used 1e-4.
    const homes = ['server/src/gapo/gapo-settings.ts', 'server/src/gapo/advantages.ts', 'server/src/protocol.ts'];
    // The numbers a user tunes (an arm of a benchmark may name its estimator; seed 0, temperature 1 and 128 tokens are everyone's).
    const literals = Object.entries(defaultGapoSettings).filter((e): e is [string, number] => typeof e[1] === 'number' && !['seed', 'maxTokens', 'temperature'].includes(e[0]));
    const found: string[] = [];
    for (const file of [...sources('server/src'), ...sources('src'), ...sources('test/bench')].filter((f) => !homes.includes(f))) {
      const code = text(file).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const [name, value] of literals) {
        // The number as code writes it: 0.0001 or 1e-4.
        const forms = [String(value), value.toExponential().replace('e+', 'e')];
        const number = `(?:${forms.map((f) => f.replace('.', '\\.')).join('|')})`;
        // In code (`tau: 0.5`) and as a command-line option's default (`tau: { type: 'string', default: '0.5' }`).
        const inCode = new RegExp(`\\b${name}: ${number}(?![\\w.])`);
        const asOption = new RegExp(`\\b'?${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}'?: \\{ type: 'string', default: '${number}' \\}`);
        if (inCode.test(code) || asOption.test(code)) found.push(`${file}: ${name}: ${value}`);
      }
    }
    assert.deepEqual(found, []);
  });

  it('keeps persistence and capture independent of the RL, training and model code', () => {
    for (const folder of ['store', 'capture']) {
      for (const file of folderFiles(folder)) {
        for (const i of projectImports(file)) {
          // The store keeps records of the wire's types: it may name them (types only), as everyone may.
          assert.ok(['edits', 'util', folder].includes(i.folder) || isProtocolTypes(i), `${file} imports ${i.spec}`);
        }
      }
    }
    for (const file of folderFiles('suggest')) {
      for (const i of projectImports(file)) {
        assert.ok(!['gapo', 'trainer', 'store'].includes(i.folder), `${file} imports ${i.spec}`);
        assert.ok(i.folder !== 'model' || i.typeOnly, `${file} imports model code (${i.spec}); the engine's API types only`);
      }
    }
  });

  it('keeps the default model\'s recipe (model-recipe/) apart from the server: no LSP, store, RL or learner code', () => {
    const files = folderFiles('model-recipe');
    assert.ok(files.length >= 6);
    for (const file of files) {
      for (const i of projectImports(file)) assert.ok(['model-recipe', 'edits', 'model', 'trainer', 'capture'].includes(i.folder) || isProtocolTypes(i), `${file} imports ${i.spec}`);
    }
  });

  it('loads ONNX Runtime only through model/ort.ts, which switches its telemetry off first', () => {
    const importers = all.filter((f) => f !== 'test/unit/structure.test.ts' && /from 'onnxruntime-node'|require\('onnxruntime-node'\)/.test(text(f)));
    assert.deepEqual(importers, ['server/src/model/ort.ts']);
    assert.match(text('server/src/model/ort.ts'), /^import '\.\.\/no-telemetry';\s*\n\s*export \* from 'onnxruntime-node';/m);
    assert.match(text('server/src/no-telemetry.ts'), /^process\.env\.ORT_DISABLE_TELEMETRY = '1';$/m);
  });

  it('has every entry point switch telemetry off before anything else', () => {
    for (const entry of ['server/src/main.ts', 'server/src/cli.ts', 'server/src/model/engine-worker.ts', 'server/src/gapo/training-worker.ts']) {
      const firstImport = text(entry).split('\n').find((line) => line.startsWith('import '));
      assert.match(firstImport ?? '', /^import '(?:\.\.?\/)+no-telemetry';/, entry);
    }
  });

  it('names each of the server\'s own requests in one place, the protocol module', () => {
    assert.ok(methods.length >= 8, `${methods.length} methods declared`);
    assert.equal(new Set(methods).size, methods.length, 'each method declared once');
    for (const file of all.filter((f) => f !== 'server/src/protocol.ts')) {
      for (const method of methods) assert.ok(!text(file).includes(`'${method}'`) && !text(file).includes(`"${method}"`), `${relative('.', file)} spells ${method} out`);
    }
  });

  it('has the extension take its request types from the protocol module', () => {
    assert.match(text('src/extension.ts'), /from '\.\.\/server\/src\/protocol'/);
    assert.doesNotMatch(text('src/extension.ts'), /sendRequest(?:<[^>]*>)?\('/, 'a request sent by its name');
  });
});
