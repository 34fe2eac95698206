// One open document as the capture sees it: its text, kept in sync from incremental
// didChange; its edit history (edits within a second merged, the last 16 kept, as Zed does);
// the burst of edits not yet settled; and the suggestions shown in it, whose fate is read
// from the same stream of changes: typed over, ignored, or (through the accept command)
// accepted, then checked for survival at 30 s, 2 min, 5 min and 10 min.
//
// The text is kept as the editor has it, so offsets stay in sync; everything derived from it
// for storage (diffs, episodes, prompts) is cut from the whole document with its secrets
// redacted, so a secret split across lines or edits is caught once it stands complete.

import type { TextDocumentContentChangeEvent } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Episode, PromptContext } from '../edits/episode';
import { Redaction, redactSecrets, type TextKind, textKind } from '../edits/redaction';
import type { EditItem } from '../edits/suggestion';
import type { CaptureOptions, OutcomeKind, SuggestionState } from '../protocol';
import { commonPrefixLength, mapRange } from '../edits/text';
import { EXCERPT_LINES, episodesFromChange, HISTORY_LIMIT, unifiedDiff } from './edit-episodes';
import type { SurvivalChecks } from './survival';

export const defaultCaptureOptions: CaptureOptions = {
  settleMs: 3000,
  mergeMs: 1000,
  historyLimit: 16,
  survivalChecksS: [30, 120, 300, 600],
  cursorLeaveLines: 8,
  regionLines: 2,
  lateAcceptMs: 60_000,
};

export interface CaptureSink {
  edit(capture: DocumentCapture, diff: string): void;
  episode(capture: DocumentCapture, episode: Episode, suggestionId: string | null): void;
  outcome(suggestionId: string, kind: OutcomeKind, afterS?: number, share?: number): void;
  /** The secrets standing in a document's text (in memory only): their stored fragments must go. */
  secrets(found: string[]): void;
}

export interface SuggestionContext extends PromptContext {
  regionStart: number;
  regionEnd: number;
  /** A secret overlaps the editable region: its rewrite could not be mapped back, so nothing is suggested. */
  regionHoldsSecret: boolean;
  /** The prefix starts at the top of the file (the bracket rule judges a closer against it only then). */
  prefixFromTop: boolean;
}

/** A suggestion's prompt fields, without where its region lies in the document. */
export function promptOf({ regionStart: _start, regionEnd: _end, regionHoldsSecret: _secret, prefixFromTop: _top, ...prompt }: SuggestionContext): PromptContext {
  return prompt;
}

interface TrackedSuggestion {
  id: string;
  context: PromptContext;
  rewritten: string;
  item: Pick<EditItem, 'kind' | 'insertText'>;
  /** Offsets of the region in the current text, moved and widened by every change. */
  range: { start: number; end: number };
  state: SuggestionState;
  /** When it was resolved as ignored or typed over (ms), for late accepts. */
  resolvedAt: number;
  episodeRecorded: boolean;
}

interface Burst {
  before: string;
  history: string[];
  firstLine: number;
  lastLine: number;
}

let settleCount = 0;

export class DocumentCapture {
  private document: TextDocument;
  private openEdit: { before: string; last: number } | null = null;
  private readonly history: string[] = [];
  private burst: Burst | null = null;
  private readonly suggestions = new Map<string, TrackedSuggestion>();
  private settleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private textChanges = 0;
  private readonly kind: TextKind;
  /** The last redactions made, by text: the current text's is asked for again and again. */
  private redactions: Redaction[] = [];

  constructor(
    readonly uri: string,
    readonly path: string,
    readonly language: string,
    text: string,
    version: number,
    private readonly options: CaptureOptions,
    private readonly sink: CaptureSink,
    /** Where accepted suggestions are followed (null: not at all). */
    private readonly survival: SurvivalChecks | null,
    initialHistory: string[] = [],
  ) {
    this.document = TextDocument.create(uri, language, version, text);
    this.history.push(...initialHistory.slice(-options.historyLimit));
    this.kind = textKind(path);
    // Secrets already in the file: fragments stored before they were complete are scrubbed now.
    this.redact(text);
  }

  get text(): string {
    return this.document.getText();
  }

  /** The text with its secrets redacted (what may leave this object: prompts, snippets, storage). */
  redactedText(): string {
    return this.redact(this.text).text;
  }

  get version(): number {
    return this.document.version;
  }

  /** Counts changes that altered the text: an editor replacing a word with itself (IntelliSense accepting what was typed) moves `version` only. */
  get contentVersion(): number {
    return this.textChanges;
  }

  /** Applies didChange's content changes one by one, tracking everything that moves with them. */
  applyChanges(changes: TextDocumentContentChangeEvent[], version: number, now = Date.now()): void {
    for (const change of changes) {
      const before = this.document.getText();
      let start = 0;
      let end = before.length;
      if ('range' in change) {
        start = this.document.offsetAt(change.range.start);
        end = this.document.offsetAt(change.range.end);
      }
      if (before.slice(start, end) === change.text) {
        this.document = TextDocument.update(this.document, [change], version);
        continue;
      }
      this.textChanges++;
      this.noteEdit(before, now);
      this.document = TextDocument.update(this.document, [change], version);
      const delta = change.text.length - (end - start);
      const line = this.document.positionAt(start).line;
      const endLine = this.document.positionAt(start + change.text.length).line;
      if (this.burst) {
        this.burst.firstLine = Math.min(this.burst.firstLine, line);
        this.burst.lastLine = Math.max(this.burst.lastLine, endLine);
      } else {
        this.burst = { before, history: this.history.slice(-HISTORY_LIMIT), firstLine: line, lastLine: endLine };
      }
      for (const s of this.suggestions.values()) {
        const touched = mapRange(s.range, start, end, delta);
        if (s.state === 'pending') this.judgePending(s, touched);
      }
      this.survival?.mapChange(this.uri, start, end, delta);
    }
    this.scheduleSettle();
  }

  /** The last edits (unified diffs, oldest first, redacted), the unsettled one included, for a prompt. */
  recentHistory(limit = HISTORY_LIMIT): string[] {
    const open = this.openEdit ? this.redactedDiff(this.openEdit.before, this.text) : '';
    return [...this.history, ...(open ? [open] : [])].slice(-limit);
  }

  /** The prompt fields around a cursor, redacted: region = the cursor line ± regionLines whole lines. */
  contextAt(line: number, character: number): SuggestionContext {
    const text = this.redact(this.text);
    const d = this.document;
    // offsetAt clamps: a line past the end is the end of the text.
    const lineStart = (l: number) => d.offsetAt({ line: Math.max(0, l), character: 0 });
    const cursorLine = Math.min(line, d.lineCount - 1);
    const regionStart = lineStart(cursorLine - this.options.regionLines);
    const regionEnd = lineStart(cursorLine + this.options.regionLines + 1);
    const cursor = d.offsetAt({ line: cursorLine, character }) - regionStart;
    const prefixStart = lineStart(cursorLine - this.options.regionLines - EXCERPT_LINES);
    const suffixEnd = lineStart(cursorLine + this.options.regionLines + 1 + EXCERPT_LINES);
    const region = text.slice(regionStart, regionEnd);
    return {
      language: this.language,
      path: this.path,
      history: this.recentHistory(),
      prefix: text.slice(prefixStart, regionStart),
      region,
      suffix: text.slice(regionEnd, suffixEnd),
      cursor: Math.min(text.offset(regionStart + cursor) - text.offset(regionStart), region.length),
      regionStart,
      regionEnd,
      regionHoldsSecret: text.touches(regionStart, regionEnd),
      prefixFromTop: prefixStart === 0,
    };
  }

  offsetAt(line: number, character: number): number {
    return this.document.offsetAt({ line, character });
  }

  positionAt(offset: number): { line: number; character: number } {
    return this.document.positionAt(offset);
  }

  /** A suggestion request at `line`: pending suggestions elsewhere were ignored, and edits far away settle. */
  cursorAt(line: number, character: number): void {
    const offset = this.offsetAt(line, character);
    for (const s of this.suggestions.values()) {
      if (s.state === 'pending' && (offset < s.range.start || offset > s.range.end)) this.resolve(s, 'ignored');
    }
    if (this.burst && (line < this.burst.firstLine - this.options.cursorLeaveLines || line > this.burst.lastLine + this.options.cursorLeaveLines)) {
      this.settle();
    }
  }

  /** Starts following a suggestion that was just shown; an older pending one is superseded. */
  track(id: string, context: SuggestionContext, rewritten: string, item: Pick<EditItem, 'kind' | 'insertText'>): void {
    for (const s of this.suggestions.values()) if (s.state === 'pending') this.resolve(s, 'ignored');
    const prompt = promptOf(context);
    const { regionStart, regionEnd } = context;
    this.suggestions.set(id, {
      id,
      context: prompt,
      rewritten,
      item,
      range: { start: regionStart, end: regionEnd },
      state: 'pending',
      resolvedAt: 0,
      episodeRecorded: false,
    });
    this.scheduleSettle();
  }

  hasSuggestion(id: string): boolean {
    return this.suggestions.has(id);
  }

  /** Still on screen as far as the server knows: neither accepted nor judged. */
  isPending(id: string): boolean {
    return this.suggestions.get(id)?.state === 'pending';
  }

  /**
   * The accept command came back: the editor has already applied the item. It may come after
   * the suggestion was resolved (a settle, a save or an edit got there first): the accept
   * still counts, and the suggestion's episode is written again with what the user kept.
   */
  accept(id: string): boolean {
    const s = this.suggestions.get(id);
    if (!s || s.state === 'accepted') return false;
    if (s.state !== 'pending') s.episodeRecorded = false;
    s.state = 'accepted';
    this.sink.outcome(id, 'accepted');
    // The span the accepted text occupies now: the insertion, or the whole rewritten region.
    const insertedAt = s.range.start + s.context.cursor;
    const [text, span] =
      s.item.kind === 'insert' ? [s.item.insertText, { start: insertedAt, end: insertedAt + s.item.insertText.length }] : [s.rewritten, { ...s.range }];
    this.survival?.start(id, this.uri, redactSecrets(text, this.path), span, this.options.survivalChecksS);
    this.scheduleSettle();
    return true;
  }

  /**
   * Turns the unsettled burst and the suggestions' regions into episodes. A save passes
   * `keepPending`: a suggestion still on screen is left to its fate, not resolved by the save.
   */
  settle(keepPending = false): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.closeOpenEdit();
    if (this.burst) {
      const { before, history } = this.burst;
      this.burst = null;
      const salt = `${Date.now()}:${(settleCount++).toString(36)}`;
      const change = { path: this.path, language: this.language, source: 'lsp', history, salt };
      for (const episode of episodesFromChange(this.redact(before).text, this.redact(this.text).text, change)) {
        this.sink.episode(this, episode, null);
      }
    }
    const now = Date.now();
    for (const s of this.suggestions.values()) {
      if (s.state === 'pending') {
        if (keepPending) continue;
        this.resolve(s, 'ignored');
      }
      if (!s.episodeRecorded) {
        s.episodeRecorded = true;
        // The user's final region is the ground truth for the prompt the suggestion answered.
        const target = this.redact(this.text).slice(s.range.start, s.range.end);
        this.sink.episode(this, { ...s.context, id: s.id, source: `suggestion:${s.id}`, target }, s.id);
      }
      // Resolved ones stay a while, for an accept that arrives late.
      if (s.state === 'accepted' || now - s.resolvedAt > this.options.lateAcceptMs) this.suggestions.delete(s.id);
    }
    this.survival?.persistSpans(this.uri);
  }

  /**
   * Drops everything not yet stored and stops following the suggestions: the user deleted
   * what was collected, or the document may no longer be captured (it grew too large, or
   * turned binary). Nothing is settled on the way out.
   */
  discard(): void {
    this.history.length = 0;
    this.openEdit = null;
    this.burst = null;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.suggestions.clear();
  }

  /** The document closed: settle now; survival checks run on against the last text seen. */
  close(): void {
    this.settle();
    this.closed = true;
    this.survival?.closed(this.uri, this.text);
  }

  dispose(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.suggestions.clear();
  }

  private noteEdit(before: string, now: number): void {
    if (this.openEdit && now - this.openEdit.last > this.options.mergeMs) this.closeOpenEdit();
    if (!this.openEdit) this.openEdit = { before, last: now };
    this.openEdit.last = now;
  }

  private closeOpenEdit(): void {
    if (!this.openEdit) return;
    const diff = this.redactedDiff(this.openEdit.before, this.text);
    this.openEdit = null;
    if (!diff) return;
    this.history.push(diff);
    if (this.history.length > this.options.historyLimit) this.history.splice(0, this.history.length - this.options.historyLimit);
    this.sink.edit(this, diff);
  }

  /** The text with its secrets redacted; the secrets found go to the sink. */
  private redact(text: string): Redaction {
    const known = this.redactions.find((r) => r.raw === text);
    if (known) return known;
    const redaction = new Redaction(text, this.kind);
    // Two are enough: the current text, and the text an open edit or burst started from.
    this.redactions = [redaction, ...this.redactions.slice(0, 1)];
    const secrets = redaction.secrets;
    if (secrets.length > 0) this.sink.secrets(secrets);
    return redaction;
  }

  private redactedDiff(before: string, after: string): string {
    return unifiedDiff(this.path, this.redact(before).text, this.redact(after).text);
  }

  private scheduleSettle(): void {
    if (this.closed) return;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.settle(), this.options.settleMs);
    this.settleTimer.unref();
  }

  /**
   * A pending suggestion after a change: an edit elsewhere means it was ignored; inside its
   * region, text that is still on the way to the suggestion (typing along with the ghost text,
   * or the editor applying the accepted item) keeps it pending, anything else typed it over.
   */
  private judgePending(s: TrackedSuggestion, touched: boolean): void {
    if (!touched) {
      this.resolve(s, 'ignored');
      return;
    }
    const original = s.context.region;
    const now = this.text.slice(s.range.start, s.range.end);
    if (now === original || now === s.rewritten || isTypingAlong(original, s.rewritten, now)) return;
    this.resolve(s, 'typed_over');
  }

  private resolve(s: TrackedSuggestion, kind: 'typed_over' | 'ignored'): void {
    s.state = kind;
    s.resolvedAt = Date.now();
    this.sink.outcome(s.id, kind);
  }

}

/** Whether `now` is `original` with a prefix of the suggested insertion typed at one place. */
export function isTypingAlong(original: string, suggested: string, now: string): boolean {
  if (now.length <= original.length || now.length >= suggested.length) return false;
  const at = commonPrefixLength(original, suggested);
  const tail = original.length - at;
  const typed = now.slice(at, now.length - tail);
  const inserted = suggested.slice(at, suggested.length - tail);
  return now.startsWith(original.slice(0, at)) && now.endsWith(original.slice(at)) && suggested.endsWith(original.slice(at)) && inserted.startsWith(typed);
}
