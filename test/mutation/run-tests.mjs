// Stryker's command runner calls this with the test files that should kill a module's mutants:
// each is bundled on its own by esbuild (no type check: a mutant needs only to run), then run
// on Node's test runner. Exit status 0 means the mutant survived.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import * as esbuild from 'esbuild';

const files = process.argv.slice(2);
const outdir = '.mutation-out';
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: files,
  outbase: '.',
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode', 'onnxruntime-node', '@photostructure/sqlite'],
  logLevel: 'error',
});
const outputs = files.map((f) => `${outdir}/${f.replace(/\.ts$/, '.js')}`);
const run = spawnSync(process.execPath, ['--test', '--test-reporter=dot', ...outputs], { stdio: ['ignore', 'ignore', 'inherit'] });
process.exit(run.status ?? 1);
