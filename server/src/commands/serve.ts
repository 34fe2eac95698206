import { parseArgs } from 'node:util';
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { defaultDataDir } from '../lsp/options';
import { startServer } from '../server';
import { Command, UsageError } from './command';
import { modelDirOrBundled } from './engine-options';
import type { WeightDType } from '../protocol';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the language server (LSP over stdio, for any editor)',
  usage: `gapo serve --stdio [--data DIR] [--model DIR | --no-model] [--cache DIR]

Speaks LSP 3.18 on stdin/stdout: document sync, textDocument/inlineCompletion, and the gapo/*
requests (status, stats, trainNow, rollback, export, forget). Captured episodes, suggestions,
training runs and adapter versions live in DIR/gapo.db and DIR/adapters/ (default
${defaultDataDir()}). Without --model it serves the bundled default model; with --no-model
it only captures (no suggestions, no training).
The client's initializationOptions may set dataDir, modelDir, adapterDir, promptFormat, dtype, capture,
prompt, suggest (enabled, maxTokens, minProbability) and training.

  --data DIR    where the store and adapters live
  --model DIR   a Hugging Face model directory (or one made by gapo init-model), or the
                ORG/NAME of a model pulled with gapo model pull
  --no-model    capture only
  --cache DIR   where converted weights are kept (default ~/.cache/gapo-assistant/weights)
  --dtype D     serve the weights as f32 (default), q8 or q4 (training uses f32 either way)`,

  run(args) {
    const { values } = parseArgs({
      args,
      options: { stdio: { type: 'boolean', default: false }, data: { type: 'string' }, model: { type: 'string' }, 'no-model': { type: 'boolean', default: false }, cache: { type: 'string' }, dtype: { type: 'string' } },
      strict: true,
    });
    if (!values.stdio) throw new UsageError('gapo serve speaks LSP over stdio only: pass --stdio');
    if (values.model && values['no-model']) throw new UsageError('give --model DIR or --no-model, not both');
    const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
    startServer({ dataDir: values.data, modelDir: values['no-model'] ? null : values.model === undefined ? undefined : modelDirOrBundled(values.model), cacheDir: values.cache, dtype: values.dtype as WeightDType | undefined }, connection);
    // The connection keeps the process alive; it exits when the client sends exit or hangs up.
    return new Promise<number>(() => {});
  },
};
