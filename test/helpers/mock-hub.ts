// A local HTTP server that answers as the Hugging Face hub does for the calls a pull makes:
// model info at a revision, the file tree (paginated with a Link header), and file resolution
// (small files served with their git ETag; LFS files redirected to a CDN path that honours
// Range requests, with X-Linked-ETag and X-Linked-Size). Repositories are folders of a model
// the tests made; a repository can be gated, and a file's first download can be cut midway.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';

export interface MockRepo {
  dir: string;
  /** Needs `Authorization: Bearer <token>`. */
  gatedToken?: string;
  /** Bytes of this file after which its first full download is cut. */
  cut?: { path: string; afterBytes: number };
  /** Serves wrong bytes for this file (an integrity failure). */
  corrupt?: string;
}

interface RepoFile {
  path: string;
  bytes: Buffer;
  oid: string;
  lfs: { oid: string; size: number; pointerSize: number } | null;
}

export class MockHub {
  readonly requests: { method: string; url: string; range: string | undefined }[] = [];
  private server: Server | null = null;
  private readonly cuts = new Set<string>();

  private constructor(
    private readonly repos: Map<string, MockRepo>,
    readonly commit: string,
  ) {}

  static async start(repos: Record<string, MockRepo>): Promise<MockHub & { url: string }> {
    const hub = new MockHub(new Map(Object.entries(repos)), createHash('sha1').update('a commit').digest('hex'));
    hub.server = createServer((req, res) => hub.answer(req, res));
    await new Promise<void>((resolve) => hub.server!.listen(0, '127.0.0.1', resolve));
    const { port } = hub.server!.address() as { port: number };
    return Object.assign(hub, { url: `http://127.0.0.1:${port}` });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private files(repo: MockRepo): RepoFile[] {
    return readdirSync(repo.dir)
      .sort()
      .map((path) => {
        const bytes = readFileSync(join(repo.dir, path));
        const oid = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
        const lfs = path.endsWith('.safetensors') ? { oid: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, pointerSize: 134 } : null;
        return { path, bytes, oid, lfs };
      });
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://hub');
    this.requests.push({ method: req.method!, url: url.pathname + url.search, range: req.headers.range });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    let m: RegExpExecArray | null;
    // The CDN: content-addressed, Range-aware.
    if ((m = /^\/cdn\/([\w.-]+\/[\w.-]+)\/([0-9a-f]+)$/.exec(url.pathname))) {
      const repo = this.repos.get(m[1]);
      const file = repo && this.files(repo).find((f) => f.lfs?.oid === m![2]);
      if (!repo || !file) return json(404, { error: 'Entry not found' });
      return this.serveBytes(req, res, repo, file, { ETag: `"${file.lfs!.oid}"` });
    }
    const name = /^\/(?:api\/models\/)?([\w.-]+\/[\w.-]+)\//.exec(url.pathname)?.[1];
    const repo = name ? this.repos.get(name) : undefined;
    if (!name || !repo) return json(401, { error: 'Repository Not Found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return json(401, { error: `Access to model ${name} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, { 'X-Error-Code': 'GatedRepo' });
    }
    if ((m = /^\/api\/models\/[\w.-]+\/[\w.-]+\/revision\/([^/]+)$/.exec(url.pathname))) {
      return json(200, { _id: `id-${name}`, id: name, sha: this.commit, private: false, gated: repo.gatedToken ? 'manual' : false, downloads: 0, likes: 0, lastModified: '2026-11-01T00:00:00.000Z' });
    }
    if ((m = /^\/api\/models\/[\w.-]+\/[\w.-]+\/tree\/([^/]+)$/.exec(url.pathname))) {
      // Two entries per page, the next page named in a Link header, as the hub paginates.
      const entries = this.files(repo).map((f) => ({ type: 'file', oid: f.oid, size: f.bytes.length, path: f.path, ...(f.lfs ? { lfs: f.lfs } : {}) }));
      const cursor = Number(url.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + 2);
      const next = cursor + 2 < entries.length ? new URL(req.url!, `http://${req.headers.host}`) : null;
      next?.searchParams.set('cursor', String(cursor + 2));
      return json(200, page, next ? { Link: `<${next.href}>; rel="next"` } : {});
    }
    if ((m = /^\/[\w.-]+\/[\w.-]+\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname))) {
      const file = this.files(repo).find((f) => f.path === decodeURIComponent(m![2]));
      if (!file) return json(404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      const headers = { 'X-Repo-Commit': this.commit };
      if (file.lfs) {
        res.writeHead(302, { ...headers, Location: `/cdn/${name}/${file.lfs.oid}`, 'X-Linked-Etag': `"${file.lfs.oid}"`, 'X-Linked-Size': String(file.lfs.size), ETag: `"${file.oid}"` });
        return void res.end();
      }
      return this.serveBytes(req, res, repo, file, { ...headers, ETag: `"${file.oid}"` });
    }
    json(404, { error: `no route ${url.pathname}` });
  }

  private serveBytes(req: IncomingMessage, res: ServerResponse, repo: MockRepo, file: RepoFile, headers: Record<string, string>): void {
    let bytes = file.bytes;
    if (repo.corrupt === file.path) bytes = Buffer.from(bytes.map((b, i) => (i === 100 ? b ^ 0xff : b)));
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
    const body = bytes.subarray(start, end + 1);
    res.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(body.length),
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    });
    const cut = repo.cut;
    // The first download of the whole file (not the size probe) stops midway: the connection drops.
    if (cut?.path === file.path && body.length > 1 && start === 0 && !this.cuts.has(file.path)) {
      this.cuts.add(file.path);
      res.write(body.subarray(0, cut.afterBytes));
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(body);
  }
}
