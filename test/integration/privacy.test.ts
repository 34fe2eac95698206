// The privacy promise, tested where it can fail. (1) Secrets: an editor session over LSP
// plants made-up secrets of every kind the README lists, typed in pieces, pasted, across
// lines, in excluded and in ordinary files; then every byte of the data folder, both exports
// and the server's log is searched for each secret and for any 12 characters of it.
// (2) Deleting collected data leaves none of it in the database file or its WAL.
// (3) The network: a session (capture, suggestions, Train Now) under strace makes no socket
// call but on its stdio pipes, and writes nothing outside its data and cache folders.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parquetReadObjects } from 'hyparquet';
import { LspSession } from '../../server/src/replay/lsp-session';
import { replayEpisodes } from '../../server/src/replay/replay';
import { ExportRequest, ForgetRequest, StatusRequest, TrainNowRequest } from '../../server/src/protocol';
import { makeModel, tempDir } from '../helpers/models';
import { cliPath, repoRoot } from '../helpers/paths';
import { makeTaughtModel } from '../helpers/taught-model';
import { redactSecrets } from '../../server/src/edits/redaction';
import { editCompletion, editPrompt } from '../../server/src/edits/prompt';
import { readEpisodes } from '../../server/src/edits/episode';

/** Made-up secrets from a fixed seed: random enough that no 12 characters of one occur by chance. */
function secretMaker(seed: number) {
  let state = seed >>> 0;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pick = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return {
    alnum: (n: number) => pick(alnum, n),
    upper: (n: number) => pick('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', n),
    base64: (n: number) => pick(alnum + '+/', n),
    hex: (n: number) => pick('0123456789abcdef', n),
  };
}

const R = '[REDACTED]';
const all12 = (secret: string) => (secret.length <= 12 ? [secret] : Array.from({ length: secret.length - 11 }, (_, i) => secret.slice(i, i + 12)));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Which of the secrets (or any 12 characters of one) occur in the texts. */
function leaks(secrets: Record<string, string>, texts: { where: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    for (const { where, text } of texts) {
      const piece = all12(secret).find((p) => text.includes(p));
      if (piece) found.push(`${name} in ${where} (${JSON.stringify(piece)})`);
    }
  }
  return found;
}

const rawFiles = (dir: string) => filesUnder(dir).map((file) => ({ where: file, text: readFileSync(file).toString('latin1') }));

describe('privacy: secrets typed in an editor session are never stored', () => {
  const work = tempDir('privacy');
  const root = join(work, 'w');
  const dataDir = join(work, 'data');
  const make = secretMaker(20261128);
  const secrets = {
    githubTwoBursts: `ghp_${make.alnum(36)}`,
    pemLine1: make.base64(64),
    pemLine2: make.base64(64),
    pemLine3: `${make.base64(40)}==`,
    awsKeyId: `AKIA${make.upper(16)}`,
    awsSecretUnquoted: make.base64(40),
    yamlPassword: `Pw${make.alnum(14)}!`,
    composePassword: make.alnum(18),
    stripe: `sk_live_${make.alnum(24)}`,
    slack: `xoxb-${make.hex(12)}-${make.alnum(24)}`,
    openai: `sk-proj-${make.alnum(40)}`,
    anthropic: `sk-ant-api03-${make.alnum(40)}`,
    jwt: `eyJ${make.alnum(20)}.eyJ${make.alnum(30)}.${make.alnum(43)}`,
    urlPassword: make.alnum(16),
    npm: `npm_${make.alnum(36)}`,
    connectionString: `Cs${make.alnum(14)}`,
    jsonClientSecret: make.alnum(32),
    shellExport: make.alnum(24),
    googlePastedThenDeleted: `AIza${make.alnum(35)}`,
    huggingFaceThreeBursts: `hf_${make.alnum(34)}`,
    envFile: `sk-${make.alnum(48)}`,
    pemFile: make.base64(64),
  };
  const markers = { client: `ordinary_${make.alnum(10)}`, maps: `ordinary_${make.alnum(10)}`, suggest: `ordinary_${make.alnum(10)}`, huge: `huge_${make.alnum(16)}` };
  const log: string[] = [];
  const uri = (path: string) => pathToFileURL(join(root, path)).href;
  const cursorDocument = `const ${markers.suggest} = 1;\nconst token = "${secrets.githubTwoBursts}";\n\n\n\nfunction add(a, b) {\n  return \n}\n`;
  let session: LspSession;

  before(async () => {
    // A model taught to answer the (redacted) prompt of one document, so that a suggestion
    // with secrets in its context is shown and stored.
    const lines = cursorDocument.split('\n');
    const path = join(root, 'src', 'suggest.js');
    const prompt = editPrompt({
      history: [],
      path,
      prefix: redactSecrets(lines.slice(0, 4).join('\n') + '\n', path),
      region: lines.slice(4, 8).join('\n') + '\n',
      suffix: '',
      cursor: '\nfunction add(a, b) {\n  return '.length,
    });
    const modelDir = await makeTaughtModel([{ prompt, completion: editCompletion({ target: '\nfunction add(a, b) {\n  return a + b;\n}\n' }) }], 64);
    session = await LspSession.start({
      cliPath,
      dataDir,
      modelDir,
      initializationOptions: { capture: { settleMs: 300, survivalChecksS: [0.2] }, suggest: { maxTokens: 64 }, training: { background: false } },
      log: (line) => log.push(line),
    });
    await session.waitForModel();
  });

  after(async () => {
    await session?.stop();
  });

  const settle = () => new Promise((resolve) => setTimeout(resolve, 600));

  /** Opens a file and types `text` at its end, `chunk` characters per change. */
  async function typeFile(path: string, start: string, text: string, chunk = 4): Promise<void> {
    await session.open(uri(path), start, 'plaintext');
    await session.type(uri(path), start.length, text, chunk);
  }

  it('stores none of them, in the store, its WAL, both exports or the log', async () => {
    // A token typed in two bursts, a settle between them: the first half is stored before it can be recognised.
    const client = uri('src/client.ts');
    // No key-like name before it: only its own shape, once complete, says it is a secret.
    await session.open(client, `const ${markers.client} = 1;\nconst octokit = new Octokit("");\n`, 'typescript');
    const at = session.text(client).indexOf('""') + 1;
    await session.type(client, at, secrets.githubTwoBursts.slice(0, 20), 5);
    await settle();
    await session.type(client, at + 20, secrets.githubTwoBursts.slice(20), 5);
    await session.save(client);

    // A private key typed line by line, each line settling on its own.
    const key = uri('deploy/key.txt');
    await session.open(key, 'the deploy key:\n', 'plaintext');
    let end = session.text(key).length;
    for (const line of ['-----BEGIN RSA PRIVATE KEY-----', secrets.pemLine1, secrets.pemLine2, secrets.pemLine3, '-----END RSA PRIVATE KEY-----']) {
      await session.type(key, end, `${line}\n`, 16);
      end = session.text(key).length;
      await settle();
    }

    // Configuration formats, typed a few characters at a time.
    await typeFile('aws/credentials', '[default]\n', `aws_access_key_id = ${secrets.awsKeyId}\naws_secret_access_key = ${secrets.awsSecretUnquoted}\nregion = eu-west-1\n`, 3);
    await typeFile('config/app.yaml', 'db:\n  user: app\n', `  password: ${secrets.yamlPassword}\n  pool: 5\n`, 2);
    await typeFile('docker-compose.yml', 'services:\n  db:\n    environment:\n', `      - POSTGRES_PASSWORD=${secrets.composePassword}\n`, 3);
    await typeFile('.npmrc', 'save-exact=true\n', `//registry.npmjs.org/:_authToken=${secrets.npm}\n`, 6);
    await typeFile('settings.json', '{\n', `  "client_secret": "${secrets.jsonClientSecret}",\n  "debug": true\n}\n`, 5);
    await typeFile('scripts/deploy.sh', '#!/bin/sh\n', `export API_TOKEN=${secrets.shellExport}\n./deploy\n`, 4);

    // Pasted into code, one change each.
    await typeFile('src/payments.ts', 'import Stripe from "stripe";\n', `const stripe = new Stripe("${secrets.stripe}");\n`, 1000);
    await typeFile('src/notify.py', 'import os\n', `SLACK = "${secrets.slack}"\nOPENAI = "${secrets.openai}"\nCLAUDE = "${secrets.anthropic}"\n`, 1000);
    await typeFile('src/auth.ts', '', `const session = "${secrets.jwt}";\n`, 1000);
    await typeFile('src/db.ts', '', `const url = "postgres://app:${secrets.urlPassword}@db:5432/app";\n`, 1000);
    await typeFile('src/Conn.cs', '', `var c = "Server=db;User Id=sa;Password=${secrets.connectionString};";\n`, 1000);

    // Pasted, settled, then deleted: the deletion's diff must not bring it back.
    const maps = uri('src/maps.ts');
    await session.open(maps, `const ${markers.maps} = 2;\n`, 'typescript');
    const line = `const key = "${secrets.googlePastedThenDeleted}";\n`;
    await session.edit(maps, session.text(maps).length, session.text(maps).length, line);
    await settle();
    await session.edit(maps, session.text(maps).length - line.length, session.text(maps).length, '');
    await session.save(maps);

    // Three bursts, three settles.
    const hf = uri('src/hub.py');
    await session.open(hf, 'login("")\n', 'python');
    for (let i = 0; i < 3; i++) {
      await session.type(hf, 'login("'.length + i * 13, secrets.huggingFaceThreeBursts.slice(i * 13, (i + 1) * 13), 13);
      await settle();
    }

    // Excluded files: nothing of them at all.
    await typeFile('.env', 'DEBUG=1\n', `OPENAI_API_KEY=${secrets.envFile}\n`, 8);
    await typeFile('certs/server.pem', '-----BEGIN PRIVATE KEY-----\n', `${secrets.pemFile}\n-----END PRIVATE KEY-----\n`, 16);
    await session.save(uri('.env'));
    await session.save(uri('certs/server.pem'));

    // A file that one paste grows past the size limit: the paste is never stored.
    const big = uri('src/big.ts');
    await session.open(big, 'export const small = 1;\n', 'typescript');
    const paste = `// ${markers.huge}\n` + 'const filler = "0123456789abcdef";\n'.repeat(36_000);
    await session.edit(big, 0, 0, paste);
    await session.save(big);

    // A suggestion whose prompt holds a (redacted) secret: shown, accepted, stored.
    const suggest = uri('src/suggest.js');
    await session.open(suggest, cursorDocument, 'javascript');
    const items = await session.inlineCompletion(suggest, cursorDocument.indexOf('return ') + 'return '.length);
    assert.equal(items[0]?.insertText, 'a + b;', 'the model suggests from the redacted prompt');
    assert.deepEqual(await session.accept(suggest, items[0]), { accepted: true });
    // A request in a region holding a secret gets nothing: its rewrite could not be applied.
    assert.deepEqual(await session.inlineCompletion(suggest, cursorDocument.indexOf('const token')), []);
    for (const path of ['src/client.ts', 'aws/credentials', 'config/app.yaml', 'docker-compose.yml', '.npmrc', 'settings.json', 'scripts/deploy.sh', 'src/payments.ts', 'src/notify.py', 'src/auth.ts', 'src/db.ts', 'src/Conn.cs', 'src/hub.py', 'src/suggest.js']) {
      await session.save(uri(path));
    }
    await session.until(() => session.outcomes.some((o) => o.kind === 'survival'), 'the survival check');

    const jsonl = join(work, 'export', 'episodes.jsonl');
    const parquet = join(work, 'export', 'episodes.parquet');
    mkdirSync(join(work, 'export'));
    await session.request(ExportRequest, { format: 'jsonl', out: jsonl });
    await session.request(ExportRequest, { format: 'verl', out: parquet });
    const bytes = readFileSync(parquet);
    const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    const status = await session.request(StatusRequest);

    const texts = [
      ...rawFiles(dataDir),
      ...rawFiles(join(work, 'export')),
      { where: 'the verl rows', text: JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) },
      { where: "the server's log", text: log.join('\n') },
    ];
    const found = leaks(secrets, texts);
    const stored = texts.map((t) => t.text).join('\n');
    console.error(`# privacy: ${Object.keys(secrets).length} secrets planted in ${status.episodes.total} episodes, ${status.suggestions.shown} suggestions; found stored: ${found.length}`);
    assert.deepEqual(found, []);
    // It stored the session, redacted: not nothing.
    assert.ok(status.episodes.total >= 15, `${status.episodes.total} episodes`);
    assert.ok(stored.includes(markers.client) && stored.includes(markers.maps), 'the code around the secrets was kept');
    assert.ok(stored.includes(`new Octokit("${R}")`), 'a redacted token reads as one');
    assert.ok(stored.includes(`password: ${R}`) && stored.includes(`aws_secret_access_key = ${R}`) && stored.includes(`POSTGRES_PASSWORD=${R}`));
    assert.ok(!stored.includes(markers.huge), 'the paste that made a file too large');
    assert.ok(log.some((l) => /not capturing .*big\.ts any more: too large/.test(l)));
    assert.ok(log.some((l) => /removed fragments of a secret from \d+ stored rows/.test(l)), 'the first burst of the token was stored, then scrubbed');
  });

  it('leaves no byte of a deleted file, or of everything, on disk', async () => {
    const dbFiles = () => filesUnder(dataDir).filter((f) => /gapo\.db/.test(f)).map((f) => ({ where: f, text: readFileSync(f).toString('latin1') }));
    const has = (marker: string) => dbFiles().some((f) => f.text.includes(marker));
    assert.ok(has(markers.client) && has(markers.maps));
    await session.request(ForgetRequest, { uri: uri('src/client.ts') });
    assert.equal(has(markers.client), false, "one file's data is gone from the database and its WAL");
    assert.equal(has(markers.maps), true, "other files' data stays");
    await session.request(ForgetRequest, {});
    assert.equal(has(markers.maps), false);
    for (const name of ['function add(a, b)', 'region = eu-west-1', 'import Stripe from', '[REDACTED]']) assert.equal(has(name), false, name);
    const status = await session.request(StatusRequest);
    assert.deepEqual([status.episodes.total, status.suggestions.shown], [0, 0]);
  });
});

describe('privacy: nothing leaves the machine', () => {
  const strace = (() => {
    try {
      return execFileSync('strace', ['-V']).toString().split('\n')[0];
    } catch {
      return null;
    }
  })();

  it('makes no network call and writes nothing outside its data and cache folders, under strace', async (t) => {
    assert.ok(strace, 'strace is needed for this test: apt-get install strace (.ci/run installs it)');
    const work = tempDir('network');
    const home = join(work, 'home');
    const tmp = join(work, 'tmp');
    mkdirSync(home);
    mkdirSync(tmp);
    const dataDir = join(home, '.local', 'share', 'gapo-assistant');
    const trace = join(work, 'strace.txt');
    const matDebugBefore = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('mat-debug-')));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8' };
    const session = await LspSession.start({
      cliPath,
      dataDir,
      modelDir: makeModel('qwen2-tied-bias', {}, { max_position_embeddings: 1024 }),
      env,
      // --seccomp-bpf stops the server only for the traced calls: the rest runs at full speed.
      wrapper: ['strace', '-f', '--seccomp-bpf', '-e', 'trace=network', '-o', trace],
      initializationOptions: {
        training: { steps: 1, group: 2, promptsPerStep: 2, maxTokens: 8, minHeldOut: 2, maxHeldOut: 2, background: false },
        prompt: { contextLines: 2, historyDiffs: 1 },
        suggest: { maxTokens: 8 },
      },
    });
    try {
      await session.waitForModel();
      const fixtures = readEpisodes(join(repoRoot, 'test', 'fixtures', 'episodes.jsonl'));
      const stats = await replayEpisodes(session, [...fixtures, ...fixtures.map((e) => ({ ...e, path: `copy/${e.path}` }))], { noise: 0, seed: 1, typingChunk: 8, root: join(work, 'repo') });
      assert.ok(stats.episodes >= 8);
      const result = await session.request(TrainNowRequest);
      assert.ok(result.status === 'deployed' || result.status === 'kept', JSON.stringify(result));
    } finally {
      await session.stop();
    }

    const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => /^\d+\s+\w+\(/.test(l));
    // The stdio pipes are socket pairs; reading and writing them is all the server may do.
    const allowed = /^\d+\s+(?:socketpair|getsockopt|setsockopt|getsockname|getpeername|shutdown|sendmsg|recvmsg)\(/;
    const outside = calls.filter((l) => !allowed.test(l));
    t.diagnostic(`${calls.length} network calls traced, ${outside.length} outside the stdio pipes`);
    console.error(`# network: ${calls.length} network system calls traced, ${outside.length} outside the stdio pipes`);
    assert.deepEqual(outside, [], 'socket, connect, sendto and the like reach the network (or a name service)');

    const created = filesUnder(home).filter((f) => !f.startsWith(dataDir + '/') && !f.startsWith(join(home, '.cache', 'gapo-assistant') + '/'));
    assert.deepEqual(created, [], 'files under HOME outside the data and cache folders (telemetry queues, device ids)');
    assert.deepEqual(filesUnder(tmp), [], 'files in TMPDIR');
    const matDebug = readdirSync(tmpdir()).filter((n) => n.startsWith('mat-debug-') && !matDebugBefore.has(n) && statSync(join(tmpdir(), n)).mtimeMs > 0);
    assert.deepEqual(matDebug, [], "ONNX Runtime's debug files in /tmp");
  });
});
