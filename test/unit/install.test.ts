// `npm ci` on the Node the README names installs what the project needs, warning about nothing:
// every locked package supports that Node, the project's npm config holds only keys npm knows,
// and onnxruntime-node's install script (a CUDA download from a host these machines cannot
// reach) is denied.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { minVersion, satisfies } from 'semver';
import { repoRoot } from '../helpers/paths';

const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string }; dev?: boolean; optional?: boolean }> };

describe('installing', () => {
  it('locks only packages that run on the oldest Node the project declares', () => {
    const oldest = minVersion(manifest.engines.node)!.version;
    const [major, minor] = oldest.split('.');
    assert.match(readFileSync(join(repoRoot, 'README.md'), 'utf8'), new RegExp(`Node ${major}\\.${minor} or later`), 'the README names it');
    const refusing = Object.entries(lock.packages)
      .filter(([path, p]) => path && typeof p.engines?.node === 'string' && !satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${path} (${p.engines!.node})`);
    assert.deepEqual(refusing, [], `packages that do not support Node ${oldest}`);
  });

  it("gives npm no config key it does not know (npm warns on every command, and will stop reading them)", () => {
    const result = spawnSync('npm', ['config', 'get', 'save-exact'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Unknown project config/);
  });

  it("denies onnxruntime-node's install script: it downloads CUDA libraries the CPU build does not need", () => {
    assert.equal(manifest.allowScripts?.['onnxruntime-node'], false);
  });
});
