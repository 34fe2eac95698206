// What users install: the linux-x64 .vsix that `npm run package` writes. Unpacked, it must hold
// only Node-API native addons (VS Code desktop loads no other kind), every module its bundles
// require at run time, no sources, tests or data, and a server that starts from it as VS Code
// starts it (forked over IPC) and suggests with the bundled model.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import AdmZip from 'adm-zip';
import { StatusRequest } from '../../server/src/protocol';
import { LspSession } from '../../server/src/replay/lsp-session';
import { tempDir } from '../helpers/models';
import { repoRoot } from '../helpers/paths';

const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Modules a bundle or package file loads by name (`require("x")`), not by relative path. */
function requiredModules(file: string): string[] {
  const names = [...readFileSync(file, 'utf8').matchAll(/\brequire\(\s*["']([^"'.][^"']*)["']\s*\)/g)].map((m) => m[1]);
  return names.filter((name) => !name.startsWith('node:') && !builtinModules.includes(name.split('/')[0]) && name !== 'vscode');
}

describe('the linux-x64 .vsix', () => {
  const unpacked = tempDir('vsix');
  const extension = join(unpacked, 'extension');
  let vsix: string;

  before(() => {
    execFileSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), 'linux-x64'], { cwd: repoRoot, stdio: 'pipe' });
    vsix = join(repoRoot, 'vsix', `gapo-assistant-linux-x64-${version}.vsix`);
    new AdmZip(vsix).extractAllTo(unpacked, true);
  });

  it('is a linux-x64 package under 40 MB with dist/, media/ and the default model, and nothing else of the repository', () => {
    assert.ok(statSync(vsix).size < 40 * 2 ** 20, `${statSync(vsix).size} bytes`);
    assert.match(readFileSync(join(unpacked, 'extension.vsixmanifest'), 'utf8'), /TargetPlatform="linux-x64"/);
    const files = filesUnder(extension).map((file) => relative(extension, file));
    for (const expected of ['package.json', 'dist/extension.js', 'dist/server.js', 'dist/engine-worker.js', 'dist/training-worker.js', 'dist/dashboard.js', 'dist/dashboard.css', 'media/dashboard.css', 'media/walkthrough/privacy.md', 'models/default/model.safetensors', 'models/default/tokenizer.json']) {
      assert.ok(files.includes(expected), `${expected} is missing`);
    }
    const slipped = files.filter((file) => /(^|\/)(src|test|\.gapo|\.scratch)\//.test(file) || /\.(ts|map|jsonl|parquet|db)$/.test(file) && !file.endsWith('.d.ts'));
    assert.deepEqual(slipped, [], 'sources, source maps, tests or data');
    // Other platforms' binaries: onnxruntime-node alone carries 280 MB of them.
    const foreign = files.filter((file) => /(darwin|win32|arm64|musl)/.test(file) && /\.(node|dll|dylib|so(\.\d+)*)$/.test(file));
    assert.deepEqual(foreign, []);
  });

  it('carries only Node-API native addons, for Linux x64', () => {
    const addons = filesUnder(extension).filter((file) => file.endsWith('.node'));
    assert.ok(addons.length >= 2, 'onnxruntime-node and SQLite');
    for (const addon of addons) {
      const symbols = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
      assert.match(symbols, /\bnapi_register_module_v1\b/, `${relative(extension, addon)} is not a Node-API addon`);
      // ELF, 64-bit, machine 62 (x86-64).
      const header = readFileSync(addon).subarray(0, 20);
      assert.ok(header.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')) && header[4] === 2 && header.readUInt16LE(18) === 62, `${relative(extension, addon)} is not a Linux x86-64 library`);
    }
  });

  it('holds every module its bundles and their packages require at run time', () => {
    const dist = join(extension, 'dist');
    const sources = filesUnder(dist).filter((file) => /\.(c?js)$/.test(file));
    const missing: string[] = [];
    for (const file of sources) {
      for (const name of requiredModules(file)) {
        try {
          const resolved = require.resolve(name, { paths: [join(file, '..')] });
          if (!resolved.startsWith(extension)) missing.push(`${name} (from ${relative(extension, file)}: found outside the package, at ${resolved})`);
        } catch {
          // A name required only inside a try (an optional fallback) is not needed.
          if (!optionalRequire(file, name)) missing.push(`${name} (from ${relative(extension, file)})`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  describe('its server, started as VS Code starts it', () => {
    const work = tempDir('vsix-server');
    let session: LspSession;

    before(async () => {
      session = await LspSession.start({
        cliPath: '',
        serverModule: join(extension, 'dist', 'server.js'),
        dataDir: join(work, 'data'),
        initializationOptions: { dataDir: join(work, 'data'), cacheDir: join(work, 'cache'), training: { background: false } },
      });
      await session.waitForModel();
    });

    after(async () => {
      await session?.stop();
    });

    it('opens its SQLite store, loads the bundled model on ONNX Runtime and shows ghost text', async () => {
      const status = await session.request(StatusRequest);
      assert.equal(status.model, join(extension, 'models', 'default'));
      assert.equal(status.modelState, 'ready');
      const uri = pathToFileURL(join(work, 'src', 'loop.js')).href;
      const before = 'function total(items) {\n  let sum = 0;\n  for (let i = 0; i < items.length; i';
      await session.open(uri, `${before}) {\n    sum += items[i];\n  }\n  return sum;\n}\n`, 'javascript');
      const [item] = await session.inlineCompletion(uri, before.length);
      assert.equal(item?.insertText, '++');
      assert.equal((await session.request(StatusRequest)).suggestions.shown, 1, 'the suggestion was stored');
    });
  });
});

/** Whether every `require(name)` in the file sits in a try block: a fallback the code survives without. */
function optionalRequire(file: string, name: string): boolean {
  const text = readFileSync(file, 'utf8');
  const at = [...text.matchAll(new RegExp(`require\\(\\s*["']${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}["']\\s*\\)`, 'g'))].map((m) => m.index!);
  return at.every((index) => /try\s*\{[^}]*$/.test(text.slice(Math.max(0, index - 200), index)));
}
