// textDocument/inlineCompletion: adapts LSP to the suggestion pipeline (suggest/pipeline.ts).
// A newer keystroke's request cancels the older one, and every request counts as in flight
// for the training thread, which waits for it.

import { randomUUID } from 'node:crypto';
import { type Connection, type InlineCompletionItem, LSPErrorCodes, ResponseError } from 'vscode-languageserver/node';
import type { DocumentCapture } from '../capture/document-capture';
import type { PromptFormat } from '../edits/prompt-format';
import { redactSecrets } from '../edits/redaction';
import { ACCEPT_COMMAND } from '../protocol';
import { servingSettings, suggest, type PipelineSettings } from '../suggest/pipeline';
import type { ServerState } from './state';

export function serveSuggestions(connection: Connection, server: () => ServerState): void {
  let latestRequest: AbortController | null = null;
  /**
   * The last answer and where it was given. VS Code asks again at the same place when its
   * IntelliSense widget opens beside the ghost text, and hides the ghost text until the answer
   * comes: the same suggestion, at once, keeps it on screen, recorded once and still pending
   * rather than judged ignored by a newer one. So does a change that left the text as it was
   * (the widget's Tab replacing the typed word with the same word).
   */
  let lastAnswer: { capture: DocumentCapture; contentVersion: number; line: number; character: number; id: string; items: InlineCompletionItem[] } | null = null;

  connection.languages.inlineCompletion.on(async ({ textDocument: { uri }, position }, token): Promise<InlineCompletionItem[] | null> => {
    const state = server();
    state.learner?.noteActivity();
    const capture = state.captures.get(uri);
    if (!capture) return null;
    capture.cursorAt(position.line, position.character);
    const engine = state.engine;
    if (!engine || !state.options.suggest.enabled) return null;
    const same = lastAnswer;
    if (same && same.capture === capture && same.contentVersion === capture.contentVersion && same.line === position.line && same.character === position.character && capture.isPending(same.id)) {
      return same.items;
    }
    latestRequest?.abort();
    const controller = new AbortController();
    latestRequest = controller;
    // A token cancelled before the handler ran reports it only a tick later: abort at once.
    if (token.isCancellationRequested) controller.abort();
    else token.onCancellationRequested(() => controller.abort());
    try {
      const shown = await state.suggestionsFirst.serve(() => suggest(engine, capture, position, settings(state, engine.promptFormat), controller.signal));
      if (token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      // Nothing to show, or the document was closed and opened again meanwhile.
      if (!shown || state.captures.get(uri) !== capture) return null;
      const { id, item } = shown;
      const items = [
        {
          insertText: item.insertText,
          range: { start: capture.positionAt(item.start), end: capture.positionAt(item.end) },
          command: { title: 'Accept GAPO suggestion', command: ACCEPT_COMMAND, arguments: [id] },
        },
      ];
      lastAnswer = { capture, contentVersion: capture.contentVersion, line: position.line, character: position.character, id, items };
      return items;
    } catch (error) {
      if (token.isCancellationRequested) throw new ResponseError(LSPErrorCodes.RequestCancelled, 'cancelled');
      if ((error as Error).name !== 'CancelledError') connection.console.error(`suggestion failed: ${(error as Error).message}`);
      return null;
    } finally {
      if (latestRequest === controller) latestRequest = null;
    }
  });
}

function settings(state: ServerState, format: PromptFormat): PipelineSettings {
  const { store, secrets } = state;
  return {
    ...servingSettings(format, state.options.prompt, state.options.suggest),
    neighbours: state.neighbours,
    record: (capture, { item, rewritten }, latencyMs) => {
      const id = randomUUID();
      // Paused learning stores nothing: the suggestion is shown, its outcome goes unrecorded.
      if (state.paused) return id;
      store.addSuggestion({
        id,
        time: Date.now(),
        uri: capture.uri,
        path: capture.path,
        rewritten: secrets.scrub(redactSecrets(rewritten, capture.path)),
        insertText: secrets.scrub(redactSecrets(item.insertText, capture.path)),
        adapterVersion: store.liveAdapterVersion(),
        latencyMs,
      });
      return id;
    },
  };
}
