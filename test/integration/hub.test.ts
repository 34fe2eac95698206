// Pulling a model from the hub (a local server that answers as the hub does): into the cache
// layout Python's huggingface_hub shares, resumed after a cut, hash-checked, found again
// without a download, then served by `gapo serve --model ORG/NAME`; and the errors a user
// meets (a missing repository, a gated one, an architecture the engine cannot run, damaged
// bytes, no network) said in words that say what to do.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedModelDir, pullModel } from '../../server/src/model/hub';
import { PullModelRequest, StatusRequest } from '../../server/src/protocol';
import { LspSession } from '../../server/src/replay/lsp-session';
import { MockHub } from '../helpers/mock-hub';
import { makeModel, tempDir } from '../helpers/models';
import { cliPath } from '../helpers/paths';

/** The CLI, run without blocking this process (it serves the mock hub the CLI talks to). */
function gapo(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { encoding: 'utf8', env }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

describe('pulling a model from the hub', () => {
  let hub: Awaited<ReturnType<typeof MockHub.start>>;
  const cacheDir = tempDir('hub-cache');
  const tiny = makeModel('llama-gqa-untied');
  const weightsSize = () => statSync(join(tiny, 'model.safetensors')).size;

  before(async () => {
    const mistral = makeModel('llama-gqa-untied');
    const config = JSON.parse(readFileSync(join(mistral, 'config.json'), 'utf8'));
    writeFileSync(join(mistral, 'config.json'), JSON.stringify({ ...config, architectures: ['MistralForCausalLM'], model_type: 'mistral' }));
    hub = await MockHub.start({
      'org/tiny': { dir: tiny, cut: { path: 'model.safetensors', afterBytes: 4096 } },
      'org/gated': { dir: tiny, gatedToken: 'hf_good' },
      'org/mistral': { dir: mistral },
      'org/damaged': { dir: tiny, corrupt: 'model.safetensors' },
    });
  });

  after(async () => {
    await hub?.stop();
  });

  it('resumes a cut download from where it stopped, checks it and lays it out as huggingface_hub does', async () => {
    const options = { cacheDir, hubUrl: hub.url, token: '' };
    await assert.rejects(pullModel('org/tiny', options), /cannot reach .*a cut download resumes/);
    const blobs = join(cacheDir, 'models--org--tiny', 'blobs');
    const partial = readdirSync(blobs).find((name) => name.endsWith('.incomplete'))!;
    assert.ok(partial, 'the cut download is kept aside, not where a complete file is expected');
    const kept = statSync(join(blobs, partial)).size;
    assert.ok(kept >= 4096 && kept < weightsSize(), `${kept} bytes kept`);
    assert.ok(!existsSync(join(cacheDir, 'models--org--tiny', 'snapshots', hub.commit, 'model.safetensors')));

    const progress: number[] = [];
    const pulled = await pullModel('org/tiny', { ...options, onProgress: (p) => progress.push(p.done) });
    assert.ok(hub.requests.some((r) => r.url.startsWith('/cdn/') && r.range === `bytes=${kept}-${weightsSize() - 1}`), 'the second download asked for the rest only');
    assert.equal(pulled.downloaded, weightsSize() - kept, 'only the missing bytes moved');
    assert.ok(progress.length > 0 && progress.at(-1) === pulled.downloaded);

    const folder = join(cacheDir, 'models--org--tiny');
    assert.equal(pulled.dir, join(folder, 'snapshots', hub.commit));
    assert.equal(readFileSync(join(folder, 'refs', 'main'), 'utf8'), hub.commit);
    for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      const pointer = join(pulled.dir, file);
      assert.ok(lstatSync(pointer).isSymbolicLink(), `${file} is a link into blobs/`);
      assert.match(readlinkSync(pointer), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
      assert.deepEqual(readFileSync(pointer), readFileSync(join(tiny, file)));
    }
    assert.ok(!readdirSync(join(folder, 'blobs')).some((name) => name.endsWith('.incomplete')));
    assert.equal(cachedModelDir('org/tiny', cacheDir), pulled.dir);
  });

  it('finds a model in the cache without downloading it again', async () => {
    const before = hub.requests.length;
    const pulled = await pullModel('org/tiny', { cacheDir, hubUrl: hub.url, token: '' });
    assert.equal(pulled.downloaded, 0);
    assert.ok(!hub.requests.slice(before).some((r) => r.url.includes('/resolve/') || r.url.startsWith('/cdn/')), 'no file was fetched');
  });

  it('is served by gapo serve --model ORG/NAME from the cache, with HF_ENDPOINT and HF_HUB_CACHE honoured by gapo model pull', async () => {
    const otherCache = tempDir('hub-cache-cli');
    const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: otherCache, HF_TOKEN: '' };
    const pull = await gapo(['model', 'pull', 'org/tiny'], env);
    assert.equal(pull.status, 0, pull.stderr);
    const dir = pull.stdout.trim();
    assert.equal(dir, join(otherCache, 'models--org--tiny', 'snapshots', hub.commit));
    const session = await LspSession.start({ cliPath, dataDir: join(tempDir('hub-serve'), 'data'), modelDir: 'org/tiny', cacheDir: tempDir('hub-weights'), env, initializationOptions: { training: { background: false } } });
    try {
      await session.waitForModel();
      const status = await session.request(StatusRequest);
      assert.equal(status.model, dir);
      assert.equal(status.modelState, 'ready');
    } finally {
      await session.stop();
    }
  });

  it('pulls for the extension over LSP (gapo/pullModel), reporting bytes and rate as work-done progress', async () => {
    const cache = tempDir('hub-cache-lsp');
    const env = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '' };
    const logs: string[] = [];
    const session = await LspSession.start({ cliPath, dataDir: join(tempDir('hub-lsp'), 'data'), modelDir: null, env, log: (line) => logs.push(line) });
    try {
      const pulled = await session.request(PullModelRequest, { id: 'org/tiny' });
      assert.equal(pulled.dir, join(cache, 'models--org--tiny', 'snapshots', hub.commit));
      assert.ok(pulled.downloaded > weightsSize());
      assert.ok(session.progress.some((p) => p.kind === 'begin' && /pulling org\/tiny/.test(p.title ?? '') && p.cancellable));
      assert.ok(session.progress.some((p) => p.kind === 'report' && /MiB at [\d.]+ MiB\/s/.test(p.message ?? '')));
      await assert.rejects(session.request(PullModelRequest, { id: 'org/missing' }), /there is no model org\/missing/);
      // A failed pull is in the server's log (the extension's output channel), not only in a notification.
      assert.ok(logs.some((line) => /could not pull org\/missing: there is no model org\/missing/.test(line)), logs.join('\n'));
    } finally {
      await session.stop();
    }
  });

  it('says what to do about a missing repository, a gated one, an unsupported architecture, damaged bytes and no network', async () => {
    const options = { cacheDir: tempDir('hub-errors'), hubUrl: hub.url, token: '' };
    await assert.rejects(pullModel('org/missing', options), /there is no model org\/missing on http:\/\/127\.0\.0\.1:\d+ \(or it is private: set HF_TOKEN\)/);
    await assert.rejects(pullModel('org/gated', options), /org\/gated is gated: accept its terms .*then set HF_TOKEN/);
    await assert.rejects(pullModel('org/gated', { ...options, token: 'hf_wrong' }), /your token \(HF_TOKEN\) has no access/);
    assert.equal((await pullModel('org/gated', { ...options, token: 'hf_good' })).files.length, 4);

    const before = hub.requests.length;
    await assert.rejects(pullModel('org/mistral', options), /org\/mistral is a MistralForCausalLM; supported are LlamaForCausalLM and Qwen2ForCausalLM/);
    assert.ok(!hub.requests.slice(before).some((r) => r.url.startsWith('/cdn/')), 'the weights were not downloaded');

    await assert.rejects(pullModel('org/damaged', options), /model\.safetensors failed its integrity check .*deleted/);
    const blobs = join(options.cacheDir, 'models--org--damaged', 'blobs');
    assert.ok(!readdirSync(blobs).some((name) => name.endsWith('.incomplete') || name.length === 64), 'nothing of the damaged file is kept');

    await assert.rejects(pullModel('org/tiny', { ...options, hubUrl: 'http://127.0.0.1:1' }), /cannot reach http:\/\/127\.0\.0\.1:1 .*needs the network/);
    await assert.rejects(pullModel('not a model id', options), /not a hub model id/);
    const cli = await gapo(['model', 'pull', 'org/missing'], { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: options.cacheDir, HF_TOKEN: '' });
    assert.equal(cli.status, 2);
    assert.equal(cli.stderr.trim().split('\n').length, 1);
  });
});
