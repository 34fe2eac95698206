// Document sync as capture: open documents are followed from incremental didChange, saves
// and closes settle their edits, and the accept command marks a shown suggestion accepted.

import { type Connection, ErrorCodes, ResponseError, TextDocumentSaveReason } from 'vscode-languageserver/node';
import { ACCEPT_COMMAND } from '../protocol';
import { filePath, type ServerState } from './state';

export function followDocuments(connection: Connection, server: () => ServerState): void {
  connection.onDidOpenTextDocument(({ textDocument: { uri, languageId, version, text } }) => {
    const state = server();
    const path = filePath(uri);
    const reason = state.privacy.skipReason(uri, path, text);
    if (reason) {
      if (reason !== 'not a file') state.log(`not capturing ${path}: ${reason}`);
      return;
    }
    state.capture(uri, path!, languageId, text, version);
  });

  connection.onDidChangeTextDocument(({ textDocument: { uri, version }, contentChanges }) => {
    const state = server();
    state.learner?.noteActivity();
    const capture = state.captures.get(uri);
    if (!capture) return;
    capture.applyChanges(contentChanges, version ?? capture.version + 1);
    // The limits hold on every change: a paste that makes the file huge or binary stops the
    // capture, and what was not yet stored goes unstored.
    const reason = state.privacy.changeReason(capture.text, contentChanges.map((c) => c.text));
    if (reason) {
      capture.discard();
      state.captures.delete(uri);
      state.neighbours.forget(capture.path);
      state.log(`not capturing ${capture.path} any more: ${reason}`);
    }
  });

  // Autosave after a delay (VS Code's web build does it after 1 s) fires while the user is still
  // typing: such a save settles nothing. Other saves settle the edits, but a suggestion still on
  // screen stays pending.
  const saveReasons = new Map<string, TextDocumentSaveReason>();
  connection.onWillSaveTextDocument(({ textDocument: { uri }, reason }) => void saveReasons.set(uri, reason));
  connection.onDidSaveTextDocument(({ textDocument: { uri } }) => {
    const reason = saveReasons.get(uri);
    saveReasons.delete(uri);
    const { captures, neighbours } = server();
    const capture = captures.get(uri);
    if (!capture) return;
    neighbours.remember(capture.path, () => capture.redactedText());
    if (reason !== TextDocumentSaveReason.AfterDelay) capture.settle(true);
  });

  connection.onDidCloseTextDocument(({ textDocument: { uri } }) => {
    const { captures, neighbours } = server();
    const capture = captures.get(uri);
    if (capture) neighbours.remember(capture.path, () => capture.redactedText());
    capture?.close();
    captures.delete(uri);
  });

  connection.onExecuteCommand(({ command, arguments: args }) => {
    if (command !== ACCEPT_COMMAND) throw new ResponseError(ErrorCodes.InvalidParams, `unknown command ${command}`);
    const id = args?.[0];
    if (typeof id !== 'string') throw new ResponseError(ErrorCodes.InvalidParams, `${ACCEPT_COMMAND} takes a suggestion id`);
    const capture = [...server().captures.values()].find((c) => c.hasSuggestion(id));
    return { accepted: capture ? capture.accept(id) : false };
  });
}
