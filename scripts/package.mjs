// `npm run package [-- TARGET...]`: one .vsix per VS Code platform target, each carrying only
// that platform's native files. A package is staged in .package/TARGET/ with exactly what the
// extension runs (dist/ bundles, media/, the bundled default model, and the two native
// packages dist/ leaves external, pruned to the target's binaries), then packed by vsce.
// The native packages go under dist/node_modules/: Node resolves them from there, and vsce's
// --no-dependencies (no `npm list` over the whole tree) only leaves out the top node_modules/.

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/**
 * The VS Code targets this extension ships for, with where each native package keeps that
 * platform's binaries. onnxruntime-node 1.29 has no darwin-x64 build and its Linux library
 * needs glibc (no alpine), so neither do we.
 */
const TARGETS = {
  'linux-x64': { ort: 'linux/x64', sqlite: 'linux-x64', sqliteFiles: /glibc/ },
  'linux-arm64': { ort: 'linux/arm64', sqlite: 'linux-arm64', sqliteFiles: /glibc/ },
  'darwin-arm64': { ort: 'darwin/arm64', sqlite: 'darwin-arm64', sqliteFiles: /./ },
  'win32-x64': { ort: 'win32/x64', sqlite: 'win32-x64', sqliteFiles: /./ },
  'win32-arm64': { ort: 'win32/arm64', sqlite: 'win32-arm64', sqliteFiles: /./ },
};

/** What the bundles in dist/ load at run time and esbuild could not bundle (see esbuild.mjs). */
const RUNTIME_BUNDLES = ['extension.js', 'server.js', 'engine-worker.js', 'training-worker.js', 'dashboard.js', 'dashboard.css'];
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'README.md', 'corpus-sources.tsv'];

const targets = process.argv.slice(2);
for (const target of targets) if (!TARGETS[target]) fail(`unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`);
for (const bundle of RUNTIME_BUNDLES) if (!existsSync(join(root, 'dist', bundle))) fail(`dist/${bundle} is missing: run npm run build first`);

const outDir = join(root, 'vsix');
mkdirSync(outDir, { recursive: true });
for (const target of targets.length ? targets : Object.keys(TARGETS)) {
  const stage = join(root, '.package', target);
  rmSync(stage, { recursive: true, force: true });
  stageTarget(stage, TARGETS[target]);
  const vsix = join(outDir, `${pkg.name}-${target}-${pkg.version}.vsix`);
  execFileSync(join(root, 'node_modules', '.bin', 'vsce'), ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--target', target, '--out', vsix], {
    cwd: stage,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  console.log(`${relative(root, vsix)}  ${(statSync(vsix).size / 2 ** 20).toFixed(1)} MiB`);
}

function stageTarget(stage, { ort, sqlite, sqliteFiles }) {
  const copy = (from, to = from) => cpSync(join(root, from), join(stage, to), { recursive: true });
  const manifest = { ...pkg };
  for (const key of ['scripts', 'devDependencies', 'dependencies', 'bin']) delete manifest[key];
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  // vsce takes what is in the folder; this file only keeps it from adding anything else.
  writeFileSync(join(stage, '.vscodeignore'), '**/*.map\n');
  copy('LICENSE');
  copy('docs/extension-readme.md', 'README.md');
  if (existsSync(join(root, 'media'))) copy('media');
  for (const bundle of RUNTIME_BUNDLES) copy(join('dist', bundle));
  for (const file of MODEL_FILES) copy(join('models/default', file));

  const modules = join('dist', 'node_modules');
  const module = (name, files) => {
    for (const file of ['package.json', 'LICENSE', 'LICENSE.md', 'README.md', ...files]) {
      if (existsSync(join(root, 'node_modules', name, file))) copy(join('node_modules', name, file), join(modules, name, file));
    }
  };
  module('onnxruntime-common', ['dist/cjs']);
  module('onnxruntime-node', ['dist', join('bin/napi-v6', ort)]);
  const sqlitePrebuilds = join('prebuilds', sqlite);
  const prebuilt = readdirSync(join(root, 'node_modules/@photostructure/sqlite', sqlitePrebuilds)).filter((name) => sqliteFiles.test(name));
  module('@photostructure/sqlite', ['dist/index.cjs', ...prebuilt.map((name) => join(sqlitePrebuilds, name))]);
  module('node-gyp-build', ['index.js', 'node-gyp-build.js']);
  for (const dir of ['onnxruntime-node/dist', 'onnxruntime-common/dist/cjs']) {
    for (const name of readdirSync(join(stage, modules, dir), { recursive: true })) if (String(name).endsWith('.map') || String(name).endsWith('.d.ts')) rmSync(join(stage, modules, dir, String(name)));
  }
}

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}
