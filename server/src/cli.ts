// The `gapo` command line: one subcommand per file under commands/.

import './no-telemetry'; // first: before anything can load ONNX Runtime
import { adapterCommand } from './commands/adapter';
import { exportModelCommand } from './commands/export-model';
import { modelCommand } from './commands/model';
import { advantagesCommand } from './commands/advantages';
import { Command, CommandIO, UsageError } from './commands/command';
import { corpusCommand } from './commands/corpus';
import { tokenizerCommand } from './commands/tokenizer';
import { pretrainCommand } from './commands/pretrain';
import { sftCommand } from './commands/sft';
import { shipModelCommand } from './commands/ship-model';
import { perplexityCommand } from './commands/perplexity';
import { tuneCopyCacheCommand } from './commands/tune-copy-cache';
import { evalCommand } from './commands/eval';
import { exportCommand } from './commands/export';
import { generateCommand } from './commands/generate';
import { initModelCommand } from './commands/init-model';
import { logprobsCommand } from './commands/logprobs';
import { replayCommand } from './commands/replay';
import { rewardCommand } from './commands/reward';
import { serveCommand } from './commands/serve';
import { trainCommand } from './commands/train';
import { version } from './version';

const commands: Command[] = [serveCommand, advantagesCommand, rewardCommand, generateCommand, logprobsCommand, trainCommand, evalCommand, initModelCommand, replayCommand, exportCommand, exportModelCommand, modelCommand, adapterCommand, corpusCommand, tokenizerCommand, pretrainCommand, sftCommand, shipModelCommand, perplexityCommand, tuneCopyCacheCommand];

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `gapo ${version}: GAPO Assistant's command line

Usage: gapo <command> [options]      gapo <command> --help

Commands:
${lines.join('\n')}
`;
}

export async function runCli(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${version}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`gapo: unknown command "${name}"; run gapo --help for the list\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(`Usage: ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    // parseArgs reports unknown or malformed options with a code of its own.
    const code = String((error as NodeJS.ErrnoException).code ?? '');
    if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`gapo ${name}: ${oneLine((error as Error).message)}\n`);
      return 2;
    }
    throw error;
  }
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ');
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`gapo: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
