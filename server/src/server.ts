// The GAPO language server. Editors talk to it over plain LSP (stdio, IPC or a socket, as
// vscode-languageserver picks from the command line), so any LSP 3.18 client with inline
// completion gets the same assistant. It captures edits into episodes, serves suggestions
// from the model (in a worker thread), follows what happens to them, and trains in the
// background. Nothing it does touches the network.
//
// This file wires LSP to the handlers in lsp/: documents (capture), suggestions, and the
// server's own requests, all over one ServerState made at initialize.

import { join } from 'node:path';
import {
  type Connection,
  createConnection,
  ErrorCodes,
  type InitializeError,
  type InitializeParams,
  type InitializeResult,
  LSPErrorCodes,
  ProposedFeatures,
  ResponseError,
  TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { followDocuments } from './lsp/documents';
import { type CommandLineOptions, readInitializationOptions, resolveOptions } from './lsp/options';
import { answerRequests } from './lsp/requests';
import { ServerState } from './lsp/state';
import { serveSuggestions } from './lsp/suggestions';
import { ACCEPT_COMMAND } from './protocol';
import { Store } from './store/store';
import { version } from './version';

export function startServer(cli: CommandLineOptions = {}, connection: Connection = createConnection(ProposedFeatures.all)): Connection {
  let state: ServerState | undefined;
  const server = (): ServerState => {
    if (!state) throw new ResponseError(ErrorCodes.ServerNotInitialized, 'the server has not been initialized');
    return state;
  };

  connection.onInitialize((params: InitializeParams): InitializeResult | ResponseError<InitializeError> => {
    const { options: init, problems } = readInitializationOptions(params.initializationOptions);
    for (const problem of problems) connection.console.warn(`GAPO Assistant settings: ${problem}`);
    const options = resolveOptions(cli, init);
    let store: Store;
    try {
      store = Store.open(join(options.dataDir, 'gapo.db'), (message) => connection.console.warn(message));
    } catch (error) {
      return new ResponseError(LSPErrorCodes.RequestFailed, `GAPO Assistant cannot open its data: ${(error as Error).message}`, { retry: false });
    }
    state = new ServerState(connection, options, store);
    if (options.modelDir) state.startModel(options.modelDir);
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, willSave: true, save: { includeText: false } },
        inlineCompletionProvider: true,
        executeCommandProvider: { commands: [ACCEPT_COMMAND] },
      },
      serverInfo: { name: 'gapo-assistant', version },
    };
  });

  connection.onInitialized(() => {
    const { options } = server();
    server().log(`GAPO Assistant ${version}: data in ${options.dataDir}; ${options.modelDir ? `model ${options.modelDir}` : 'no model (capture only: pass --model DIR)'}`);
  });

  followDocuments(connection, server);
  serveSuggestions(connection, server);
  answerRequests(connection, server);

  connection.onShutdown(() => state?.shutdown());
  connection.onExit(() => {
    for (const capture of state?.captures.values() ?? []) capture.dispose();
  });

  // A request must never take the server down: log what escaped and keep serving.
  process.on('uncaughtException', (error) => connection.console.error(`uncaught: ${error.stack ?? error}`));
  process.on('unhandledRejection', (reason) => connection.console.error(`unhandled rejection: ${String(reason)}`));

  connection.listen();
  return connection;
}
