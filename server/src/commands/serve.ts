import { parseArgs } from 'node:util';
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { defaultDataDir } from '../lsp/options';
import { startServer } from '../server';
import { Command, UsageError } from './command';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the language server (LSP over stdio, for any editor)',
  usage: `gapo serve --stdio [--data DIR] [--model DIR] [--cache DIR]

Speaks LSP 3.18 on stdin/stdout: document sync, textDocument/inlineCompletion, and the gapo/*
requests (status, stats, trainNow, rollback, export, forget). Captured episodes, suggestions,
training runs and adapter versions live in DIR/gapo.db and DIR/adapters/ (default
${defaultDataDir()}). Without --model (and without a bundled model) it only captures.
The client's initializationOptions may set dataDir, modelDir, capture, suggest and training.

  --data DIR    where the store and adapters live
  --model DIR   a Hugging Face model directory (or one made by gapo init-model)
  --cache DIR   where converted weights are kept (default ~/.cache/gapo-assistant/weights)`,

  run(args) {
    const { values } = parseArgs({
      args,
      options: { stdio: { type: 'boolean', default: false }, data: { type: 'string' }, model: { type: 'string' }, cache: { type: 'string' } },
      strict: true,
    });
    if (!values.stdio) throw new UsageError('gapo serve speaks LSP over stdio only: pass --stdio');
    const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
    startServer({ dataDir: values.data, modelDir: values.model, cacheDir: values.cache }, connection);
    // The connection keeps the process alive; it exits when the client sends exit or hangs up.
    return new Promise<number>(() => {});
  },
};
