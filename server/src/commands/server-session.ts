// A language server for a CLI command that drives one (replay, adapter import): `gapo serve`
// in a child process, its errors on stderr, and its model loaded before the command goes on.

import { resolve } from 'node:path';
import { LspSession } from '../replay/lsp-session';
import { CommandIO, UsageError } from './command';
import type { InitializationOptions } from '../protocol';

export interface ServerSessionOptions {
  dataDir: string;
  modelDir: string;
  cacheDir?: string;
  initializationOptions: InitializationOptions;
  /** Every server log line on stderr, not only the errors. */
  verbose?: boolean;
}

/** The started session with its model ready; a model that cannot load is the user's input (exit 2). */
export async function startServerSession(options: ServerSessionOptions, io: CommandIO): Promise<LspSession> {
  const session = await LspSession.start({
    cliPath: process.argv[1],
    dataDir: options.dataDir,
    modelDir: resolve(options.modelDir),
    cacheDir: options.cacheDir,
    initializationOptions: options.initializationOptions,
    log: (line) => {
      if (options.verbose || /error|failed|corrupt|cannot/i.test(line)) io.stderr(`server: ${line}\n`);
    },
  });
  try {
    await session.waitForModel(10 * 60_000);
  } catch (error) {
    await session.stop();
    throw new UsageError((error as Error).message);
  }
  return session;
}
