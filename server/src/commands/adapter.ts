import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDataDir } from '../lsp/options';
import { ImportAdapterRequest } from '../protocol';
import { Command, UsageError } from './command';
import { modelDirOrBundled } from './engine-options';
import { startServerSession } from './server-session';

export const adapterCommand: Command = {
  name: 'adapter',
  summary: 'import a LoRA adapter trained elsewhere; it goes live only through the eval gate',
  usage: `gapo adapter import DIR [--data DIR] [--model DIR] [--cache DIR] [--json]

Hands an adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors), trained
elsewhere (for example with verl-GAPO on what \`gapo export --format verl\` wrote), to the
language server of --data: it is judged like a training run's candidate, on the held-out
episodes against the live adapter, and becomes the next adapter version, live only if
typing those episodes with it saves more characters beyond the noise (the rule:
README.md, or docs/language-server.md; roll back with the extension's Rollback).
With --json prints the run's result. Exits 1 when the adapter is kept but not made live.

  --data DIR    the server's data folder (default ${defaultDataDir()})
  --model DIR   the base model the adapter was trained on (default: the bundled model)`,

  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { data: { type: 'string' }, model: { type: 'string' }, cache: { type: 'string' }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
    const [action, dir, ...rest] = positionals;
    if (action !== 'import') throw new UsageError(action ? `unknown action ${action} (only import)` : 'missing the action: gapo adapter import DIR');
    if (!dir || rest.length) throw new UsageError('gapo adapter import takes one adapter folder');
    if (!existsSync(join(dir, 'adapter_config.json'))) throw new UsageError(`${dir}: no adapter_config.json (an adapter in PEFT's layout is needed)`);
    const session = await startServerSession(
      { dataDir: resolve(values.data ?? defaultDataDir()), modelDir: modelDirOrBundled(values.model), cacheDir: values.cache, initializationOptions: { training: { background: false } } },
      io,
    );
    try {
      let run;
      try {
        run = await session.request(ImportAdapterRequest, { dir: resolve(dir) });
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      if (values.json) io.stdout(JSON.stringify(run) + '\n');
      if (run.status === 'failed') throw new UsageError(`the adapter could not be judged: ${run.error}`);
      io.stderr(`adapter v${run.adapterVersion} ${run.status === 'deployed' ? 'is live' : 'kept, not live'}: ${run.verdict!.reason}\n`);
      return run.status === 'deployed' ? 0 : 1;
    } finally {
      await session.stop();
    }
  },
};
