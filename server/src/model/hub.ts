// Models pulled from the Hugging Face hub into the cache layout Python's huggingface_hub
// writes (HF_HUB_CACHE, else HF_HOME/hub: models--ORG--NAME/{blobs,snapshots,refs}), so a model
// downloaded by other tools is found without a download and ours serve theirs. The hub's API
// is @huggingface/hub's (HF_ENDPOINT for mirrors, HF_TOKEN for gated models); on top of it:
// only the files a model needs, resume after a cut (a Range request from where the
// .incomplete file ends), the hub's hashes checked before a blob is renamed into place
// (sha256 for LFS files, git's blob sha1 otherwise), and errors that say what to do.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { downloadFile, getHFHubCachePath, HubApiError, listFiles, type ListFileEntry, modelInfo } from '@huggingface/hub';
import { parseModelConfig, SUPPORTED_ARCHITECTURES } from './config';

export class HubError extends Error {}

export const DEFAULT_HUB = 'https://huggingface.co';

/** The files a model in the Hugging Face layout needs here; the rest of a repository is not fetched. */
const NEEDED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|model\.safetensors\.index\.json|[^/]+\.safetensors)$/;

export interface PullProgress {
  file: string;
  /** Bytes of this pull done and to do (files already cached count neither). */
  done: number;
  total: number;
  bytesPerSecond: number;
}

export interface PullOptions {
  /** The hub cache (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** The hub (default: HF_ENDPOINT, else huggingface.co). */
  hubUrl?: string;
  /** An access token (default: HF_TOKEN). */
  token?: string;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

export interface PulledModel {
  dir: string;
  commit: string;
  /** Bytes fetched by this pull (0 when everything was in the cache). */
  downloaded: number;
  files: string[];
}

/** ORG/NAME[@REVISION], as the hub names a model. */
export function parseModelId(spec: string): { name: string; revision: string } {
  const m = /^([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(spec);
  if (!m) throw new HubError(`${spec} is not a hub model id: ORG/NAME or ORG/NAME@REVISION`);
  return { name: m[1], revision: m[2] ?? 'main' };
}

function repoFolder(cacheDir: string, name: string): string {
  return join(cacheDir, `models--${name.split('/').join('--')}`);
}

/**
 * The snapshot folder of a model already in the cache (a revision's ref, or a commit), when it
 * holds a complete model; null otherwise. Needs no network.
 */
export function cachedModelDir(spec: string, cacheDir = getHFHubCachePath()): string | null {
  const { name, revision } = parseModelId(spec);
  const folder = repoFolder(cacheDir, name);
  const ref = join(folder, 'refs', revision);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : revision;
  const dir = join(folder, 'snapshots', commit);
  return ['config.json', 'tokenizer.json'].every((f) => existsSync(join(dir, f))) && hasAllWeights(dir) ? dir : null;
}

function hasAllWeights(dir: string): boolean {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const shards = new Set(Object.values(JSON.parse(readFileSync(index, 'utf8')).weight_map as Record<string, string>));
    return [...shards].every((shard) => existsSync(join(dir, shard)));
  }
  return existsSync(join(dir, 'model.safetensors'));
}

/** A hub error in words a user can act on. */
function explain(error: unknown, name: string, hubUrl: string, hasToken: boolean): Error {
  if (error instanceof HubError) return error;
  if (error instanceof HubApiError) {
    const said = (error.data?.error as string | undefined) ?? error.message;
    if (error.statusCode === 404 || /repository not found/i.test(said)) {
      return new HubError(`there is no model ${name} on ${hubUrl}${hasToken ? '' : ' (or it is private: set HF_TOKEN)'}`);
    }
    if (error.statusCode === 401 || error.statusCode === 403) {
      return new HubError(
        hasToken
          ? `${name} is gated and your token (HF_TOKEN) has no access: accept its terms on its page on ${hubUrl}`
          : `${name} is gated: accept its terms on its page on ${hubUrl}, then set HF_TOKEN to an access token`,
      );
    }
    return new HubError(`${hubUrl} answered ${error.statusCode} for ${name}: ${said}`);
  }
  if ((error as Error).name === 'AbortError') return new HubError('the download was cancelled');
  if ((error as { code?: string }).code === 'ENOSPC') return new HubError('the disk is full: free some space and pull again (the download resumes where it stopped)');
  // fetch fails with a TypeError whose cause (or the cause's errors) says why.
  if (error instanceof TypeError && /fetch failed|terminated/.test(error.message)) {
    const cause = error.cause as { code?: string; message?: string; errors?: { code?: string }[] } | undefined;
    const why = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? error.message;
    return new HubError(`cannot reach ${hubUrl} (${why}): pulling a model needs the network; models already in the cache work offline, and a cut download resumes`);
  }
  return error as Error;
}

/** Pulls ORG/NAME[@REVISION] into the hub cache and returns its snapshot folder. */
export async function pullModel(spec: string, options: PullOptions = {}): Promise<PulledModel> {
  const { name, revision } = parseModelId(spec);
  const cacheDir = options.cacheDir ?? getHFHubCachePath();
  const hubUrl = (options.hubUrl ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB).replace(/\/+$/, '');
  const accessToken = options.token ?? process.env.HF_TOKEN ?? undefined;
  const signal = options.signal;
  const fetchWithSignal: typeof fetch = (input, init) => fetch(input, { ...init, signal });
  const common = { hubUrl, accessToken, fetch: fetchWithSignal };
  const folder = repoFolder(cacheDir, name);
  try {
    const info = await modelInfo({ name, revision, additionalFields: ['sha'], ...common });
    const commit = (info as { sha?: string }).sha;
    if (!commit || !/^[0-9a-f]{40}$/.test(commit)) throw new HubError(`${hubUrl} gave no commit for ${name}@${revision}`);
    const entries: ListFileEntry[] = [];
    for await (const entry of listFiles({ repo: { type: 'model', name }, revision: commit, recursive: true, ...common })) {
      if (entry.type === 'file' && NEEDED.test(entry.path)) entries.push(entry);
    }
    const paths = entries.map((e) => e.path);
    if (!paths.includes('config.json')) throw new HubError(`${name} has no config.json: not a model in the Hugging Face layout`);
    if (!paths.includes('tokenizer.json')) throw new HubError(`${name} has no tokenizer.json (only models with a fast tokenizer are supported)`);
    if (!paths.some((p) => p.endsWith('.safetensors'))) throw new HubError(`${name} has no safetensors weights (only *.safetensors models are supported)`);

    // The config first: an architecture the engine cannot run is refused before gigabytes move.
    const ordered = [...entries].sort((a, b) => (a.path === 'config.json' ? -1 : b.path === 'config.json' ? 1 : a.size - b.size));
    const snapshot = join(folder, 'snapshots', commit);
    const missing = ordered.filter((e) => !existsSync(join(snapshot, e.path)));
    const total = missing.reduce((n, e) => n + e.size, 0);
    mkdirSync(join(folder, 'blobs'), { recursive: true });
    const free = statfsSync(cacheDir);
    const already = missing.reduce((n, e) => n + partialSize(folder, e), 0);
    if (total - already > free.bavail * free.bsize) {
      throw new HubError(`${name} needs ${mib(total - already)} in ${cacheDir}, and the disk has ${mib(free.bavail * free.bsize)} free`);
    }
    const started = Date.now();
    let done = 0;
    for (const entry of ordered) {
      if (existsSync(join(snapshot, entry.path))) {
        if (entry.path === 'config.json') checkArchitecture(join(snapshot, entry.path), name);
        continue;
      }
      await fetchBlob(folder, snapshot, name, commit, entry, common, (bytes) => {
        done += bytes;
        options.onProgress?.({ file: entry.path, done, total, bytesPerSecond: done / Math.max(0.001, (Date.now() - started) / 1000) });
      });
      if (entry.path === 'config.json') checkArchitecture(join(snapshot, entry.path), name);
    }
    if (revision !== commit) {
      mkdirSync(dirname(join(folder, 'refs', revision)), { recursive: true });
      writeFileSync(join(folder, 'refs', revision), commit);
    }
    return { dir: snapshot, commit, downloaded: done, files: paths };
  } catch (error) {
    throw explain(error, name, hubUrl, Boolean(accessToken));
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function etagOf(entry: ListFileEntry): string {
  const etag = entry.lfs?.oid ?? entry.oid;
  if (!etag) throw new HubError(`the hub gave no hash for ${entry.path}`);
  return etag;
}

function partialSize(folder: string, entry: ListFileEntry): number {
  const incomplete = join(folder, 'blobs', `${etagOf(entry)}.incomplete`);
  return existsSync(incomplete) ? statSync(incomplete).size : 0;
}

function checkArchitecture(configFile: string, name: string): void {
  const raw = JSON.parse(readFileSync(configFile, 'utf8'));
  const architecture = raw.architectures?.[0];
  if (!SUPPORTED_ARCHITECTURES.includes(architecture)) {
    throw new HubError(`${name} is a ${architecture ?? 'model of no declared architecture'}; supported are ${SUPPORTED_ARCHITECTURES.join(' and ')}`);
  }
  parseModelConfig(raw, configFile);
}

/** One file into blobs/ (resumed from its .incomplete part, hash checked) and linked from the snapshot. */
async function fetchBlob(
  folder: string,
  snapshot: string,
  name: string,
  commit: string,
  entry: ListFileEntry,
  common: { hubUrl: string; accessToken?: string; fetch: typeof fetch },
  progress: (bytes: number) => void,
): Promise<void> {
  const etag = etagOf(entry);
  const blobPath = join(folder, 'blobs', etag);
  if (!existsSync(blobPath)) {
    const incomplete = `${blobPath}.incomplete`;
    let start = existsSync(incomplete) ? statSync(incomplete).size : 0;
    if (start > entry.size) start = 0;
    if (start === 0) writeFileSync(incomplete, '');
    if (start < entry.size) {
      const blob = await downloadFile({ repo: { type: 'model', name }, path: entry.path, revision: commit, xet: false, ...common });
      if (!blob) throw new HubError(`${name}@${commit.slice(0, 12)} has no ${entry.path}`);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          progress(chunk.length);
          callback(null, chunk);
        },
      });
      const body = Readable.fromWeb((start > 0 ? blob.slice(start) : blob).stream() as ReadableStream);
      await pipeline(body, counter, createWriteStream(incomplete, { flags: start > 0 ? 'a' : 'w' }));
    }
    if (statSync(incomplete).size !== entry.size) {
      throw new HubError(`${entry.path} arrived with ${statSync(incomplete).size} of its ${entry.size} bytes: pull again to resume`);
    }
    const actual = await hashFile(incomplete, entry.lfs ? 'sha256' : 'git-sha1', entry.size);
    if (actual !== etag) {
      rmSync(incomplete, { force: true });
      throw new HubError(`${entry.path} failed its integrity check (expected ${entry.lfs ? 'sha256' : 'git sha1'} ${etag}, got ${actual}); the damaged download was deleted`);
    }
    renameSync(incomplete, blobPath);
  }
  const pointer = join(snapshot, entry.path);
  mkdirSync(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blobPath);
  if (existsSync(pointer) || isLink(pointer)) {
    if (isLink(pointer) && readlinkSync(pointer) === target) return;
    rmSync(pointer, { force: true });
  }
  symlinkSync(target, pointer);
}

function isLink(path: string): boolean {
  try {
    readlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** sha256 of an LFS file; git's blob id (sha1 of "blob SIZE\0" and the bytes) of any other. */
async function hashFile(file: string, kind: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const hash = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') hash.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
