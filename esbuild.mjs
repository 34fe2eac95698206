// Bundles the extension, the language server and the `gapo` CLI into dist/.
// Native packages stay external: they ship platform binaries that cannot be bundled.
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');
const bench = process.argv.includes('--bench');
const e2e = process.argv.includes('--e2e');
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  outdir: 'dist',
  external: ['vscode', 'onnxruntime-node', '@photostructure/sqlite'],
  define: { GAPO_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
};

const builds = [
  { ...common, entryPoints: { extension: 'src/extension.ts', server: 'server/src/main.ts', 'engine-worker': 'server/src/model/engine-worker.ts', 'training-worker': 'server/src/gapo/training-worker.ts' } },
  { ...common, entryPoints: { cli: 'server/src/cli.ts' }, banner: { js: '#!/usr/bin/env node' } },
  // The dashboard's webview: a browser script (and the charting library's CSS beside it).
  { entryPoints: { dashboard: 'src/dashboard/view.ts' }, bundle: true, platform: 'browser', format: 'iife', target: 'es2022', minify: true, sourcemap: true, outdir: 'dist', logLevel: 'warning' },
];

// Tests are bundled one file each into out/, to run on Node's own test runner.
if (tests) {
  builds.push({ ...common, entryPoints: ['test/**/*.test.ts'], outbase: '.', outdir: 'out', define: {} });
}

// The end-to-end tests drive a browser through playwright-core, which stays a package of its own.
if (e2e) {
  builds.push({ ...common, entryPoints: ['test/e2e/*.e2e.ts'], outbase: 'test/e2e', outdir: 'out/e2e', define: {}, external: [...common.external, 'playwright-core'] });
}

if (bench) {
  // Outside out/test/: Node's test runner would take any script under a test/ folder for a test.
  builds.push({ ...common, entryPoints: { run: 'test/bench/run.ts', learning: 'test/bench/learning/main.ts', 'gpu-check': 'test/bench/gpu-check.ts' }, outdir: 'out/bench', define: {} });
}

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
