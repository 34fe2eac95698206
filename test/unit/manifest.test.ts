// The extension's manifest and code agree: every contributed command is registered, and
// every registered command is contributed (VS Code would show neither mistake until run).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/paths';
import { defaultTrainingSettings } from '../../server/src/gapo/training-job';
import { estimators } from '../../server/src/gapo/advantages';

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

  it('lets the user tune training under the names the server uses, with its defaults', () => {
    const properties = manifest.contributes.configuration.properties as Record<string, { default: unknown; enum?: string[] }>;
    const training = Object.keys(properties).filter((key) => key.startsWith('gapo.training.')).map((key) => key.slice('gapo.training.'.length));
    for (const name of ['estimator', 'tau', 'group', 'learningRate', 'rank', 'steps']) assert.ok(training.includes(name), `gapo.training.${name}`);
    // The extension passes every one of them, and nothing else, to the server.
    const body = source.match(/function trainingOptions[\s\S]*?\n}\n/)![0];
    const passed = [...body.matchAll(/(\w+): config\.get<\w+>\('training\.(\w+)'\)/g)].map(([, field, setting]) => {
      assert.equal(field, setting, `gapo.training.${setting} goes to the server as ${field}`);
      return field;
    });
    assert.deepEqual([...passed].sort(), [...training].sort());
    for (const name of training.filter((n) => n !== 'background')) {
      assert.ok(name in defaultTrainingSettings, `gapo.training.${name} is no TrainingSettings field`);
      assert.equal(properties[`gapo.training.${name}`].default, defaultTrainingSettings[name as keyof typeof defaultTrainingSettings], `gapo.training.${name}'s default`);
    }
    assert.deepEqual([...properties['gapo.training.estimator'].enum!].sort(), Object.keys(estimators).sort());
  });
});
