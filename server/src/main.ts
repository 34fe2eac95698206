// The GAPO language server. Editors talk to it over plain LSP (stdio, IPC or a socket, as
// vscode-languageserver picks from the command line), so any LSP client gets the same
// assistant. This first version keeps the open documents in sync and answers `gapo/status`;
// capture, suggestions and training arrive with their own modules.

import {
  createConnection,
  InitializeResult,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { version } from './version';

export interface ServerStatus {
  version: string;
  openDocuments: number;
  model: string | null;
  training: 'unavailable';
}

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

connection.onInitialize((): InitializeResult => ({
  capabilities: {
    textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
  },
  serverInfo: { name: 'gapo-assistant', version },
}));

connection.onRequest('gapo/status', (): ServerStatus => ({
  version,
  openDocuments: documents.all().length,
  model: null,
  training: 'unavailable',
}));

// A request must never take the server down: log what escaped and keep serving.
process.on('uncaughtException', (error) => connection.console.error(`uncaught: ${error.stack ?? error}`));
process.on('unhandledRejection', (reason) => connection.console.error(`unhandled rejection: ${String(reason)}`));

documents.listen(connection);
connection.listen();
