// Everything the server collects and learns, in one SQLite file in WAL mode
// with synchronous=FULL: a write returns only once it is committed to disk, so whatever the
// server has acknowledged survives a killed process. A database written by a newer version is
// refused untouched; a corrupt one is moved aside (kept, never deleted) and a fresh one made.
// The binding is @photostructure/sqlite (node:sqlite's API on Node-API, prebuilt for every
// platform): VS Code desktop runs the server on Electron, where only Node-API addons load.

import { DatabaseSync, type DatabaseSyncInstance } from '@photostructure/sqlite';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { migrations } from './migrations';
import type { Episode } from '../edits/episode';
import type { AcceptanceDay, AdapterEvaluation, AdapterRecord, CollectedFile, RunRecord, RunResult, RunStatus, RunTrigger, StepRecord, TrainingSettings } from '../protocol';
import type { Outcome, PendingSurvivalCheck } from '../edits/suggestion';
import type { Span } from '../edits/text';

export class StoreError extends Error {}

export interface StoredEpisode extends Episode {
  time: number;
  uri: string;
  suggestionId: string | null;
}

export interface SuggestionRecord {
  id: string;
  time: number;
  uri: string;
  path: string;
  rewritten: string;
  insertText: string;
  adapterVersion: number;
  latencyMs: number;
}

const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** A stored judgement; one written before the gate typed episodes (edit similarity, no verdict) reads as none. */
const evaluation = (text: string | null): AdapterEvaluation | null => {
  const value = json(text) as Partial<AdapterEvaluation> | null;
  return value?.verdict && value.live && value.candidate ? (value as AdapterEvaluation) : null;
};

/** Every column that holds text the user wrote (JSON columns hold it in their strings). */
const STORED_TEXT: { table: string; key: string; columns: { name: string; json?: boolean }[]; hasCursor?: boolean }[] = [
  { table: 'edits', key: 'id', columns: [{ name: 'diff' }] },
  { table: 'episodes', key: 'id', columns: [{ name: 'history', json: true }, { name: 'prefix' }, { name: 'region' }, { name: 'suffix' }, { name: 'target' }], hasCursor: true },
  { table: 'suggestions', key: 'id', columns: [{ name: 'rewritten' }, { name: 'insert_text' }] },
];

function scrubStrings(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (Array.isArray(value)) return value.map((v) => scrubStrings(v, scrub));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubStrings(v, scrub)]));
  return value;
}

export class Store {
  private constructor(
    readonly db: DatabaseSyncInstance,
    readonly file: string,
  ) {}

  /** Opens (or creates) the store; `log` hears about a corrupt file moved aside. */
  static open(file: string, log: (message: string) => void = () => {}): Store {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    let db: DatabaseSyncInstance;
    try {
      db = openChecked(file);
    } catch (error) {
      if (error instanceof StoreError || !isCorruption(error)) throw error;
      const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm']) if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
      log(`the database ${file} was corrupt (${(error as Error).message}); it was moved to ${aside} and a new one was created`);
      db = openChecked(file);
    }
    return new Store(db, file);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  get schemaVersion(): number {
    return pragma(this.db, 'user_version') as number;
  }

  // --- capture -------------------------------------------------------------------------------

  addEdit(time: number, uri: string, path: string, diff: string): void {
    this.db.prepare('INSERT INTO edits(time, uri, path, diff) VALUES (?, ?, ?, ?)').run(time, uri, path, diff);
  }

  recentEdits(path: string, limit: number): string[] {
    const rows = this.db.prepare('SELECT diff FROM edits WHERE path = ? ORDER BY id DESC LIMIT ?').all(path, limit) as { diff: string }[];
    return rows.map((r) => r.diff).reverse();
  }

  addSuggestion(s: SuggestionRecord): void {
    this.db
      .prepare('INSERT INTO suggestions(id, time, uri, path, rewritten, insert_text, adapter_version, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(s.id, s.time, s.uri, s.path, s.rewritten, s.insertText, s.adapterVersion, s.latencyMs);
  }

  /** A shown suggestion's rewrite and its outcomes, in one query (training reads one per episode). */
  shownSuggestion(id: string): { rewritten: string; outcomes: Outcome[] } | null {
    const rows = this.db
      .prepare('SELECT s.rewritten, o.kind, o.time, o.after_s, o.share FROM suggestions s LEFT JOIN outcomes o ON o.suggestion_id = s.id WHERE s.id = ? ORDER BY o.id')
      .all(id) as Record<string, any>[];
    if (rows.length === 0) return null;
    const outcomes = rows.filter((r) => r.kind !== null).map((r) => ({ kind: r.kind, time: r.time, afterS: r.after_s, share: r.share }));
    return { rewritten: rows[0].rewritten, outcomes };
  }

  /**
   * Records an outcome (a survival check's also ends its pending row). One of a suggestion
   * that was deleted meanwhile (the user forgot it) is dropped: returns false. An accept
   * replaces an earlier ignored or typed-over verdict (the editor applies an accepted item,
   * and asks for the next suggestion, before its accept command arrives): one verdict per
   * suggestion, so no count or reader sees the same suggestion both ignored and accepted.
   */
  addOutcome(suggestionId: string, kind: Outcome['kind'], time: number, afterS: number | null = null, share: number | null = null): boolean {
    return transaction(this.db, () => {
      if (kind === 'accepted') this.db.prepare("DELETE FROM outcomes WHERE suggestion_id = ? AND kind IN ('ignored', 'typed_over')").run(suggestionId);
      const added = this.db
        .prepare('INSERT INTO outcomes(suggestion_id, time, kind, after_s, share) SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM suggestions WHERE id = ?)')
        .run(suggestionId, time, kind, afterS, share, suggestionId).changes;
      if (kind === 'survival') this.dropSurvivalCheck(suggestionId, afterS ?? 0);
      return added > 0;
    });
  }

  addSurvivalChecks(checks: PendingSurvivalCheck[]): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO survival_checks(suggestion_id, after_s, due, uri, text, span_start, span_end) VALUES (?, ?, ?, ?, ?, ?, ?)');
    transaction(this.db, () => {
      for (const c of checks) insert.run(c.suggestionId, c.afterS, c.due, c.uri, c.text, c.span.start, c.span.end);
    });
  }

  moveSurvivalSpan(suggestionId: string, span: Span): void {
    this.db.prepare('UPDATE survival_checks SET span_start = ?, span_end = ? WHERE suggestion_id = ?').run(span.start, span.end, suggestionId);
  }

  dropSurvivalCheck(suggestionId: string, afterS: number): void {
    this.db.prepare('DELETE FROM survival_checks WHERE suggestion_id = ? AND after_s = ?').run(suggestionId, afterS);
  }

  /** Survival checks not yet run, soonest first. */
  pendingSurvivalChecks(): PendingSurvivalCheck[] {
    const rows = this.db.prepare('SELECT * FROM survival_checks ORDER BY due').all() as Record<string, any>[];
    return rows.map((r) => ({ suggestionId: r.suggestion_id, uri: r.uri, text: r.text, span: { start: r.span_start, end: r.span_end }, afterS: r.after_s, due: r.due }));
  }

  outcomes(suggestionId: string): Outcome[] {
    const rows = this.db.prepare('SELECT kind, time, after_s, share FROM outcomes WHERE suggestion_id = ? ORDER BY id').all(suggestionId) as Record<string, unknown>[];
    return rows.map((r) => ({ kind: r.kind as Outcome['kind'], time: r.time as number, afterS: r.after_s as number | null, share: r.share as number | null }));
  }

  /** Adds an episode; one with the same id (a suggestion accepted late) gets the new target. */
  addEpisode(e: StoredEpisode): void {
    this.db
      .prepare(
        `INSERT INTO episodes(id, time, source, language, uri, path, history, prefix, region, suffix, cursor, target, suggestion_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET time = excluded.time, target = excluded.target`,
      )
      .run(e.id, e.time, e.source ?? 'lsp', e.language, e.uri, e.path, JSON.stringify(e.history), e.prefix, e.region, e.suffix, e.cursor, e.target, e.suggestionId);
  }

  /** Episodes oldest first; `since` (exclusive, ms) and `limit` select the newest ones. */
  episodes(options: { since?: number; path?: string; limit?: number } = {}): StoredEpisode[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM (SELECT *, rowid AS seq FROM episodes WHERE time > ? AND (? IS NULL OR path = ?) ORDER BY time DESC, seq DESC LIMIT ?)
         ORDER BY time, seq`,
      )
      .all(options.since ?? -1, options.path ?? null, options.path ?? null, options.limit ?? -1) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as string,
      time: r.time as number,
      source: r.source as string,
      date: new Date(r.time as number).toISOString(),
      language: r.language as string,
      uri: r.uri as string,
      path: r.path as string,
      history: JSON.parse(r.history as string),
      prefix: r.prefix as string,
      region: r.region as string,
      suffix: r.suffix as string,
      cursor: r.cursor as number,
      target: r.target as string,
      suggestionId: r.suggestion_id as string | null,
    }));
  }

  /** Episodes stored after `time` (ms), counted without reading them. */
  countEpisodesSince(time: number): number {
    return (this.db.prepare('SELECT count(*) n FROM episodes WHERE time > ?').get(time) as { n: number }).n;
  }

  counts(): { episodes: number; episodesFromSuggestions: number; suggestions: number; accepted: number; typedOver: number; ignored: number; edits: number } {
    const one = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      episodes: one('SELECT count(*) n FROM episodes'),
      episodesFromSuggestions: one('SELECT count(*) n FROM episodes WHERE suggestion_id IS NOT NULL'),
      suggestions: one('SELECT count(*) n FROM suggestions'),
      accepted: one("SELECT count(*) n FROM outcomes WHERE kind = 'accepted'"),
      typedOver: one("SELECT count(*) n FROM outcomes WHERE kind = 'typed_over'"),
      ignored: one("SELECT count(*) n FROM outcomes WHERE kind = 'ignored'"),
      edits: one('SELECT count(*) n FROM edits'),
    };
  }

  /** Of the `limit` most recent suggestions whose fate is known, how many were accepted. */
  recentAcceptance(limit: number): { accepted: number; of: number } | null {
    const row = this.db
      .prepare(
        `SELECT count(*) n, coalesce(sum(accepted), 0) accepted FROM (
           SELECT s.id, max(o.kind = 'accepted') accepted FROM suggestions s JOIN outcomes o ON o.suggestion_id = s.id
           WHERE o.kind IN ('accepted', 'typed_over', 'ignored') GROUP BY s.id ORDER BY s.time DESC LIMIT ?)`,
      )
      .get(limit) as { n: number; accepted: number };
    return row.n === 0 ? null : { accepted: row.accepted, of: row.n };
  }

  /** Suggestions per day (UTC) with their outcomes, the last `days` days that had any. */
  acceptanceByDay(days: number): AcceptanceDay[] {
    const rows = this.db
      .prepare(
        `SELECT day, count(*) shown, sum(accepted) accepted, sum(typed_over) typed_over, sum(ignored) ignored, avg(survival) survival FROM (
           SELECT date(s.time / 1000, 'unixepoch') day,
             EXISTS (SELECT 1 FROM outcomes o WHERE o.suggestion_id = s.id AND o.kind = 'accepted') accepted,
             EXISTS (SELECT 1 FROM outcomes o WHERE o.suggestion_id = s.id AND o.kind = 'typed_over') typed_over,
             EXISTS (SELECT 1 FROM outcomes o WHERE o.suggestion_id = s.id AND o.kind = 'ignored') ignored,
             (SELECT o.share FROM outcomes o WHERE o.suggestion_id = s.id AND o.kind = 'survival' ORDER BY o.after_s DESC LIMIT 1) survival
           FROM suggestions s)
         GROUP BY day ORDER BY day DESC LIMIT ?`,
      )
      .all(days) as Record<string, any>[];
    return rows.reverse().map((r) => ({ day: r.day, shown: r.shown, accepted: r.accepted, typedOver: r.typed_over, ignored: r.ignored, survival: r.survival }));
  }

  /** What was collected, per file, most recently touched first. */
  collectedFiles(): CollectedFile[] {
    const rows = this.db
      .prepare(
        `SELECT path, sum(episodes) episodes, sum(suggestions) suggestions, sum(edits) edits, max(time) last_time FROM (
           SELECT path, count(*) episodes, 0 suggestions, 0 edits, max(time) time FROM episodes GROUP BY path
           UNION ALL SELECT path, 0, count(*), 0, max(time) FROM suggestions GROUP BY path
           UNION ALL SELECT path, 0, 0, count(*), max(time) FROM edits GROUP BY path)
         GROUP BY path ORDER BY last_time DESC`,
      )
      .all() as Record<string, any>[];
    return rows.map((r) => ({ path: r.path, episodes: r.episodes, suggestions: r.suggestions, edits: r.edits, lastTime: r.last_time }));
  }

  /**
   * Deletes collected data (everything, or one file's) and leaves no byte of it on disk:
   * secure_delete zeroes the freed space, the WAL is checkpointed and truncated, and
   * forgetting everything also removes copies of corrupt databases moved aside earlier.
   * Adapters and run metrics stay.
   */
  forget(path?: string): { episodes: number; suggestions: number; edits: number } {
    const deleted = transaction(this.db, () => {
      const where = path === undefined ? '' : ' WHERE path = ?';
      const args = path === undefined ? [] : [path];
      const episodes = this.db.prepare(`DELETE FROM episodes${where}`).run(...args).changes;
      const suggestions = this.db.prepare(`DELETE FROM suggestions${where}`).run(...args).changes;
      const edits = this.db.prepare(`DELETE FROM edits${where}`).run(...args).changes;
      return { episodes, suggestions, edits };
    });
    this.flushToDisk();
    if (path === undefined && this.file !== ':memory:') {
      const aside = `${basename(this.file)}.corrupt-`;
      for (const name of readdirSync(dirname(this.file))) if (name.startsWith(aside)) rmSync(join(dirname(this.file), name), { force: true });
    }
    return deleted;
  }

  /**
   * Replaces, in every stored text, what `scrub` removes (fragments of secrets recognised only
   * once complete). Only rows holding one of `probes` are read. Returns the rows changed.
   */
  scrub(scrub: (text: string) => string, probes: string[]): number {
    if (probes.length === 0) return 0;
    const scrubJson = (text: string) => JSON.stringify(scrubStrings(JSON.parse(text), scrub));
    let changed = 0;
    transaction(this.db, () => {
      for (const { table, key, columns, hasCursor } of STORED_TEXT) {
        const names = columns.map((c) => c.name);
        const written = hasCursor ? [...names, 'cursor'] : names;
        const update = this.db.prepare(`UPDATE ${table} SET ${written.map((n) => `${n} = ?`).join(', ')} WHERE ${key} = ?`);
        // SQLite nests a chain of ORs as deep as it is long, and refuses a depth over 1000.
        const perQuery = Math.floor(500 / columns.length);
        for (let i = 0; i < probes.length; i += perQuery) {
          const chunk = probes.slice(i, i + perQuery);
          const where = names.map((n) => chunk.map(() => `instr(${n}, ?) > 0`).join(' OR ')).join(' OR ');
          const rows = this.db.prepare(`SELECT ${key}, ${written.join(', ')} FROM ${table} WHERE ${where}`).all(...names.flatMap(() => chunk)) as Record<string, any>[];
          for (const row of rows) {
            const values = columns.map((c) => (c.json ? scrubJson(row[c.name]) : scrub(row[c.name])));
            if (values.every((v, j) => v === row[names[j]])) continue;
            // The cursor stays on the same character of the scrubbed region.
            const cursor = hasCursor ? [Math.min(scrub(row.region.slice(0, row.cursor)).length, scrub(row.region).length)] : [];
            update.run(...values, ...cursor, row[key]);
            changed++;
          }
        }
      }
    });
    if (changed > 0) this.flushToDisk();
    return changed;
  }

  /** Moves the WAL's pages into the database and truncates it, so replaced text is gone from both files. */
  private flushToDisk(): void {
    if (this.file !== ':memory:') pragma(this.db, 'wal_checkpoint(TRUNCATE)');
  }

  // --- training ------------------------------------------------------------------------------

  startRun(trigger: RunTrigger, options: TrainingSettings, trainEpisodes: number, heldOutEpisodes: number): number {
    return Number(
      this.db
        .prepare("INSERT INTO training_runs(started, status, trigger, options, train_episodes, held_out_episodes) VALUES (?, 'running', ?, ?, ?, ?)")
        .run(Date.now(), trigger, JSON.stringify(options), trainEpisodes, heldOutEpisodes).lastInsertRowid,
    );
  }

  addStep(runId: number, step: number, metrics: StepRecord['metrics'], groups: StepRecord['groups']): void {
    this.db.prepare('INSERT INTO training_steps(run_id, step, time, metrics, groups) VALUES (?, ?, ?, ?, ?)').run(runId, step, Date.now(), JSON.stringify(metrics), JSON.stringify(groups));
  }

  finishRun(runId: number, status: RunResult['status'], fields: { adapterVersion?: number | null; eval?: AdapterEvaluation; error?: string | null } = {}): void {
    this.db
      .prepare('UPDATE training_runs SET finished = ?, status = ?, adapter_version = ?, eval = ?, error = ? WHERE id = ?')
      .run(Date.now(), status, fields.adapterVersion ?? null, fields.eval === undefined ? null : JSON.stringify(fields.eval), fields.error ?? null, runId);
  }

  /** Runs left 'running' by a killed process are marked as interrupted. */
  markInterruptedRuns(): number {
    return this.db.prepare("UPDATE training_runs SET status = 'interrupted', finished = ? WHERE status = 'running'").run(Date.now()).changes;
  }

  runs(limit = 20): RunRecord[] {
    const rows = this.db.prepare('SELECT * FROM training_runs ORDER BY id DESC LIMIT ?').all(limit) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: r.id as number,
      started: r.started as number,
      finished: r.finished as number | null,
      status: r.status as RunStatus,
      trigger: r.trigger as RunTrigger,
      options: json(r.options as string) as Partial<TrainingSettings>,
      trainEpisodes: r.train_episodes as number,
      heldOutEpisodes: r.held_out_episodes as number,
      adapterVersion: r.adapter_version as number | null,
      eval: evaluation(r.eval as string | null),
      error: r.error as string | null,
    }));
  }

  steps(runId: number): StepRecord[] {
    const rows = this.db.prepare('SELECT * FROM training_steps WHERE run_id = ? ORDER BY step').all(runId) as Record<string, unknown>[];
    return rows.map((r) => ({ runId: r.run_id as number, step: r.step as number, time: r.time as number, metrics: json(r.metrics as string) as StepRecord['metrics'], groups: json(r.groups as string) as StepRecord['groups'] }));
  }

  /** Whether the user paused learning (kept across restarts). */
  learningPaused(): boolean {
    return (this.db.prepare("SELECT value FROM settings WHERE key = 'learning_paused'").get() as { value: string } | undefined)?.value === '1';
  }

  setLearningPaused(paused: boolean): void {
    this.db.prepare("INSERT INTO settings(key, value) VALUES ('learning_paused', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(paused ? '1' : '0');
  }

  lastEpisodeTimeTrained(): number {
    const row = this.db.prepare("SELECT value FROM settings WHERE key = 'trained_through'").get() as { value: string } | undefined;
    return row ? Number(row.value) : 0;
  }

  setLastEpisodeTimeTrained(time: number): void {
    this.db.prepare("INSERT INTO settings(key, value) VALUES ('trained_through', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(time));
  }

  // --- adapter versions ----------------------------------------------------------------------

  nextAdapterVersion(): number {
    return (this.db.prepare('SELECT max(version) v FROM adapters').get() as { v: number }).v + 1;
  }

  addAdapter(a: Omit<AdapterRecord, 'time'>): void {
    this.db.prepare('INSERT INTO adapters(version, time, path, parent, run_id, eval) VALUES (?, ?, ?, ?, ?, ?)').run(a.version, Date.now(), a.path, a.parent, a.runId, JSON.stringify(a.eval ?? null));
  }

  adapters(): AdapterRecord[] {
    const rows = this.db.prepare('SELECT * FROM adapters ORDER BY version').all() as Record<string, unknown>[];
    return rows.map((r) => ({ version: r.version as number, time: r.time as number, path: r.path as string | null, parent: r.parent as number | null, runId: r.run_id as number | null, eval: evaluation(r.eval as string | null) }));
  }

  adapter(version: number): AdapterRecord | null {
    return this.adapters().find((a) => a.version === version) ?? null;
  }

  liveAdapterVersion(): number {
    return Number((this.db.prepare("SELECT value FROM settings WHERE key = 'live_adapter'").get() as { value: string }).value);
  }

  setLiveAdapterVersion(version: number): void {
    if (!this.adapter(version)) throw new StoreError(`there is no adapter version ${version}`);
    this.db.prepare("UPDATE settings SET value = ? WHERE key = 'live_adapter'").run(String(version));
  }
}

function openChecked(file: string): DatabaseSyncInstance {
  const db = new DatabaseSync(file);
  try {
    // quick_check reads every page: a file that is not a database, or a damaged one, fails here.
    const check = pragma(db, 'quick_check');
    if (check !== 'ok') throw Object.assign(new Error(`integrity check: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
    const version = pragma(db, 'user_version') as number;
    if (version > migrations.length) {
      throw new StoreError(`${file} was written by a newer GAPO Assistant (schema ${version}; this version knows up to ${migrations.length}); it was left untouched`);
    }
    pragma(db, 'journal_mode = WAL');
    pragma(db, 'synchronous = FULL');
    // Deleted and replaced text is overwritten with zeros, not left in free pages.
    pragma(db, 'secure_delete = ON');
    pragma(db, 'foreign_keys = ON');
    pragma(db, 'busy_timeout = 5000');
    for (let v = version; v < migrations.length; v++) {
      transaction(db, () => {
        db.exec(migrations[v]);
        pragma(db, `user_version = ${v + 1}`);
      });
    }
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** A PRAGMA's value: the first column of its first row (undefined for one that returns none). */
export function pragma(db: DatabaseSyncInstance, statement: string): unknown {
  const row = db.prepare(`PRAGMA ${statement}`).get() as Record<string, unknown> | undefined;
  return row === undefined ? undefined : Object.values(row)[0];
}

/** Runs `body` in one transaction: all of its writes are committed, or none. */
function transaction<T>(db: DatabaseSyncInstance, body: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = body();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

function isCorruption(error: unknown): boolean {
  const name = (error as { sqliteCodeName?: string }).sqliteCodeName ?? (error as { code?: string }).code ?? '';
  return name === 'SQLITE_NOTADB' || name.startsWith('SQLITE_CORRUPT');
}
