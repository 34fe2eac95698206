// Survival checks: how much of an accepted suggestion is still there 30 s, 2 min, 5 min and
// 10 min later. Each pending check is a row in the store from the moment of the accept, so a
// restarted server (the editor reloaded, or the server was killed) resumes the checks it had
// not run. The accepted text's span moves with every change of its document while the server
// runs, and is written back to the store whenever the document settles.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { diffChars } from 'diff';
import type { PendingSurvivalCheck } from '../edits/suggestion';
import { mapRange, type Span } from '../edits/text';

export interface SurvivalStore {
  addChecks(checks: PendingSurvivalCheck[]): void;
  moveSpan(suggestionId: string, span: Span): void;
  /** Records the share and removes the pending check. */
  record(suggestionId: string, afterS: number, share: number): void;
  /** Removes a check that cannot be run (its file is unreadable). */
  drop(suggestionId: string, afterS: number): void;
}

interface Watch {
  id: string;
  uri: string;
  text: string;
  span: Span;
  timers: Map<number, NodeJS.Timeout>;
}

export class SurvivalChecks {
  private readonly watches = new Map<string, Watch>();
  /** The last text of documents that closed while checks were pending on them. */
  private readonly closedTexts = new Map<string, string>();

  constructor(
    private readonly store: SurvivalStore,
    /** The text of an open document, or null. */
    private readonly openText: (uri: string) => string | null,
  ) {}

  /** Starts the checks of an accepted suggestion, at `afterS` seconds from now. */
  start(suggestionId: string, uri: string, text: string, span: Span, afterS: number[], now = Date.now()): void {
    const checks = afterS.map((a) => ({ suggestionId, uri, text, span: { ...span }, afterS: a, due: now + a * 1000 }));
    this.store.addChecks(checks);
    this.resume(checks, now);
  }

  /** Schedules checks read back from the store (after a restart), or just added. */
  resume(checks: PendingSurvivalCheck[], now = Date.now()): void {
    for (const check of checks) {
      let watch = this.watches.get(check.suggestionId);
      if (!watch) {
        watch = { id: check.suggestionId, uri: check.uri, text: check.text, span: { ...check.span }, timers: new Map() };
        this.watches.set(watch.id, watch);
      }
      const w = watch;
      const timer = setTimeout(() => this.run(w, check.afterS), Math.max(0, check.due - now));
      timer.unref();
      w.timers.set(check.afterS, timer);
    }
  }

  /** Moves the spans in `uri` through a change of [start, end) by `delta` characters. */
  mapChange(uri: string, start: number, end: number, delta: number): void {
    for (const w of this.watches.values()) if (w.uri === uri) mapRange(w.span, start, end, delta);
  }

  /** Writes the spans of `uri`'s checks (all, without a uri) back to the store. */
  persistSpans(uri?: string): void {
    for (const w of this.watches.values()) if (uri === undefined || w.uri === uri) this.store.moveSpan(w.id, w.span);
  }

  /** The document closed: its checks run on against the last text seen. */
  closed(uri: string, text: string): void {
    if ([...this.watches.values()].some((w) => w.uri === uri)) this.closedTexts.set(uri, text);
    this.persistSpans(uri);
  }

  /** Stops the checks of the documents `which` picks (all, without it); their rows go with the forgotten data. */
  forget(which: (uri: string) => boolean = () => true): void {
    for (const w of [...this.watches.values()]) {
      if (!which(w.uri)) continue;
      w.timers.forEach(clearTimeout);
      this.watches.delete(w.id);
    }
  }

  dispose(): void {
    this.persistSpans();
    this.forget();
  }

  private run(w: Watch, afterS: number): void {
    w.timers.delete(afterS);
    if (w.timers.size === 0) this.watches.delete(w.id);
    const text = this.textOf(w.uri);
    if (text === null) this.store.drop(w.id, afterS);
    else this.store.record(w.id, afterS, survivingShare(w.text, text.slice(w.span.start, w.span.end)));
    if (![...this.watches.values()].some((x) => x.uri === w.uri)) this.closedTexts.delete(w.uri);
  }

  /** The document as open in the editor, as last seen before it closed, or as it is on disk ('' when deleted). */
  private textOf(uri: string): string | null {
    const text = this.openText(uri) ?? this.closedTexts.get(uri);
    if (text !== undefined) return text;
    try {
      return readFileSync(fileURLToPath(uri), 'utf8');
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ENOENT' ? '' : null;
    }
  }
}

/** The share of `accepted`'s characters still present in `now`, aligned with a character diff. */
export function survivingShare(accepted: string, now: string): number {
  if (accepted.length === 0) return 1;
  let kept = 0;
  for (const part of diffChars(accepted, now)) if (!part.added && !part.removed) kept += part.value.length;
  return kept / accepted.length;
}
