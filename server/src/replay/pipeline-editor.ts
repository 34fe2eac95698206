// An editor in miniature without a server: each document is a DocumentCapture, as the language
// server keeps it, and a suggestion is the serving pipeline's own run (suggest/pipeline.ts:
// context, prompt, generate, item, record) on the model at hand. The eval gate types held-out
// episodes through it in the training thread, where no server runs, so it judges the
// suggestions a user would be shown. Nothing is stored; a file's edits are kept in memory for
// its next opening, as the server's store keeps them for a reopened file's history.

import { fileURLToPath } from 'node:url';
import { type CaptureSink, DocumentCapture } from '../capture/document-capture';
import type { EditItem } from '../edits/suggestion';
import { type NeighbourFiles, neighbourFilesFor } from '../capture/neighbours';
import { type Generator, type PipelineSettings, suggest } from '../suggest/pipeline';
import type { TypingEditor } from './typing';
import type { CaptureOptions } from '../protocol';

export type PipelineItem = EditItem & { id: string };

export class PipelineEditor implements TypingEditor<PipelineItem> {
  private readonly captures = new Map<string, DocumentCapture>();
  /** Each file's edits, oldest first (what the server's store.recentEdits reads back). */
  private readonly edits = new Map<string, string[]>();
  private readonly sink: CaptureSink = {
    edit: (capture, diff) => this.edits.set(capture.path, [...(this.edits.get(capture.path) ?? []), diff].slice(-this.capture.historyLimit)),
    episode() {},
    outcome() {},
    secrets() {},
  };
  private shown = 0;
  /** Other files' text for prompts' snippets, fed as the server feeds its own. */
  private readonly neighbours: NeighbourFiles;

  constructor(
    private readonly generator: Generator,
    private readonly settings: Omit<PipelineSettings, 'record'>,
    private readonly capture: CaptureOptions,
  ) {
    this.neighbours = neighbourFilesFor(settings.prompt);
  }

  async open(uri: string, text: string, languageId: string): Promise<void> {
    this.captures.get(uri)?.dispose();
    const path = fileURLToPath(uri);
    const capture = new DocumentCapture(uri, path, languageId, text, 1, this.capture, this.sink, null, this.edits.get(path) ?? []);
    this.captures.set(uri, capture);
    this.neighbours.remember(path, () => capture.redactedText());
  }

  text(uri: string): string {
    return this.document(uri).text;
  }

  async edit(uri: string, start: number, end: number, text: string): Promise<void> {
    const capture = this.document(uri);
    const range = { start: capture.positionAt(start), end: capture.positionAt(end) };
    capture.applyChanges([{ range, text }], capture.version + 1);
  }

  /** As the server's inline-completion handler asks (lsp/suggestions.ts): the cursor noted, then the pipeline. */
  async suggestion(uri: string, offset: number): Promise<PipelineItem | null> {
    const capture = this.document(uri);
    const position = capture.positionAt(offset);
    capture.cursorAt(position.line, position.character);
    const record = () => String(++this.shown);
    const shown = await suggest(this.generator, capture, position, { ...this.settings, record, neighbours: this.neighbours }, new AbortController().signal);
    return shown && { ...shown.item, id: shown.id };
  }

  textAfter(uri: string, item: PipelineItem): string {
    const text = this.text(uri);
    return text.slice(0, item.start) + item.insertText + text.slice(item.end);
  }

  async accept(uri: string, item: PipelineItem): Promise<boolean> {
    await this.edit(uri, item.start, item.end, item.insertText);
    return this.document(uri).accept(item.id);
  }

  async save(uri: string): Promise<void> {
    const capture = this.document(uri);
    this.neighbours.remember(capture.path, () => capture.redactedText());
    capture.settle(true);
  }

  async close(uri: string): Promise<void> {
    const capture = this.document(uri);
    this.neighbours.remember(capture.path, () => capture.redactedText());
    capture.close();
    capture.dispose();
    this.captures.delete(uri);
  }

  private document(uri: string): DocumentCapture {
    const capture = this.captures.get(uri);
    if (!capture) throw new Error(`${uri} is not open`);
    return capture;
  }
}
