// The extension's manifest and code agree: every contributed command is registered, and
// every registered command is contributed (VS Code would show neither mistake until run).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/paths';

describe('extension manifest', () => {
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const source = readFileSync(join(repoRoot, 'src', 'extension.ts'), 'utf8');

  it('contributes exactly the commands the extension registers', () => {
    const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
    const registered = [...source.matchAll(/command\('(gapo\.[A-Za-z]+)'/g)].map((m) => m[1]).sort();
    assert.ok(contributed.length >= 7, 'the manifest contributes the commands');
    assert.deepEqual(registered, contributed);
  });

  it('walks a first run through commands that exist, with pages that exist', () => {
    const commands = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
    const steps = manifest.contributes.walkthroughs.flatMap((w: { steps: unknown[] }) => w.steps) as { description: string; media: { markdown: string } }[];
    assert.ok(steps.length >= 4);
    for (const step of steps) {
      const linked = [...step.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]);
      assert.ok(linked.length > 0, step.description);
      for (const command of linked) assert.ok(commands.has(command), `${command} is linked but not contributed`);
      assert.ok(readFileSync(join(repoRoot, step.media.markdown), 'utf8').length > 100, step.media.markdown);
    }
  });

  it('declares every setting the extension reads', () => {
    const read = [...source.matchAll(/config\.get<[^>]+>\('([^']+)'/g)].map((m) => `gapo.${m[1]}`);
    assert.ok(read.length >= 5, `the pattern finds the settings read (${read.length})`);
    for (const key of read) assert.ok(key in manifest.contributes.configuration.properties, `${key} is read but not declared`);
  });
});
