// The engine in its worker thread, as the language server uses it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Engine } from '../../server/src/model/engine';
import { EngineClient, EngineStoppedError } from '../../server/src/model/engine-client';
import { makeModel, tempDir } from '../helpers/models';
import { repoRoot } from '../helpers/paths';

const workerPath = join(repoRoot, 'dist', 'engine-worker.js');
const cacheDir = tempDir('cache');

describe('engine client (worker thread)', () => {
  let modelDir: string;
  let client: EngineClient;
  before(async () => {
    modelDir = makeModel('qwen2-tied-bias');
    client = await EngineClient.start({ modelDir, cacheDir, threads: 1, workerPath });
  });
  after(() => client.dispose());

  it('reports what it loaded', () => {
    assert.equal(client.info.architecture, 'Qwen2ForCausalLM');
    assert.equal(client.info.provider, 'cpu');
    assert.ok(client.info.parameters > 10_000);
  });

  it('generates exactly as the engine does in-process', async () => {
    const local = await Engine.load({ modelDir, cacheDir, threads: 1 });
    const options = { maxTokens: 8, temperature: 1, samples: 3, seed: 9 };
    assert.deepEqual(await client.generate('const x = ', options), await local.generate('const x = ', options));
    await local.dispose();
  });

  it('stops a generation between decode steps when its signal aborts', async () => {
    const controller = new AbortController();
    const running = client.generate('x', { maxTokens: 200 }, controller.signal);
    controller.abort();
    const [result] = await running;
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.tokens.length < 200);
    // The worker is free again at once.
    const [next] = await client.generate('y', { maxTokens: 2 });
    assert.equal(next.tokens.length, 2);
  });

  it('refuses a request aborted before it started, and runs the next one', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(client.generate('x', { maxTokens: 5 }, controller.signal), /cancelled before it started/);
    assert.equal((await client.generate('x', { maxTokens: 1 }))[0].tokens.length, 1);
  });

  it('turns a bad request into a rejected promise, not a dead worker', async () => {
    await assert.rejects(client.generate([1, 99999], { maxTokens: 1 }), /outside the vocabulary/);
    assert.ok(client.running);
    assert.equal((await client.generate('ok', { maxTokens: 1 }))[0].tokens.length, 1);
  });
});

describe('engine client failures', () => {
  it('rejects start with the loader\'s message when the model is broken', async () => {
    await assert.rejects(EngineClient.start({ modelDir: '/nonexistent/model', cacheDir, workerPath }), /config\.json: cannot read the model's config/);
  });

  it('rejects pending and later calls with a clear error when the worker dies', async () => {
    const client = await EngineClient.start({ modelDir: makeModel('llama-gqa-untied'), cacheDir, threads: 1, workerPath });
    const pending = assert.rejects(client.generate('x', { maxTokens: 500 }), /the model worker exited/);
    // Kill the thread from outside, as a crash in native code would.
    await (client as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await pending;
    await assert.rejects(client.generate('x'), EngineStoppedError);
    assert.equal(client.running, false);
  });

  it('rejects pending calls when disposed', async () => {
    const client = await EngineClient.start({ modelDir: makeModel('llama-gqa-untied'), cacheDir, threads: 1, workerPath });
    const pending = assert.rejects(client.generate('x', { maxTokens: 500 }), /disposed/);
    await client.dispose();
    await pending;
  });
});

describe('execution providers', () => {
  const cudaLibrary = join(repoRoot, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so');
  it('falls back to the CPU with a clear message when CUDA libraries are missing', { skip: existsSync(cudaLibrary) && 'CUDA provider installed' }, async () => {
    const messages: string[] = [];
    const engine = await Engine.load({ modelDir: makeModel('qwen2-tied-bias'), cacheDir, threads: 1, provider: 'cuda', log: (m) => messages.push(m) });
    assert.equal(engine.info.provider, 'cpu');
    assert.ok(messages.some((m) => /CUDA execution provider unavailable, falling back to CPU: .*ONNXRUNTIME_NODE_INSTALL=cuda12/.test(m)), messages.join('\n'));
    assert.equal((await engine.generate('a', { maxTokens: 2 }))[0].tokens.length, 2);
    await engine.dispose();
  });
});
