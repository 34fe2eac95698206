import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCorpusFiles } from '../model-recipe/corpus-files';
import { heldOutPerplexity } from '../model-recipe/perplexity';
import { asUsageError, Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, positiveInteger } from './engine-options';
import { ProgressBar } from './progress';

export const perplexityCommand: Command = {
  name: 'perplexity',
  summary: 'held-out perplexity and bits per byte of a model on a corpus\'s held-out files',
  usage: `gapo perplexity --corpus DIR [--model DIR] [--window 512] [--json]

Scores every file of DIR/heldout.jsonl (from gapo corpus; never trained on) in windows of
--window tokens. Prints the mean loss per token (nats), the perplexity and the bits per byte;
with --json {"files", "tokens", "bytes", "loss", "perplexity", "bitsPerByte"}.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({ args, options: { ...engineOptionSpecs, corpus: { type: 'string' }, window: { type: 'string', default: '512' }, json: { type: 'boolean', default: false } }, strict: true });
    if (!values.corpus) throw new UsageError('missing --corpus DIR');
    const files = asUsageError(() => readCorpusFiles(join(values.corpus!, 'heldout.jsonl')));
    const window = positiveInteger('--window', values.window);
    if (window < 2) throw new UsageError('--window must be at least 2');
    const engine = await loadEngine(values, io);
    try {
      const progress = new ProgressBar(files.length, io.stderr);
      const result = await heldOutPerplexity(engine, files, Math.min(window, engine.config.maxPositions), (done) => progress.update(done, ''));
      progress.done();
      io.stdout(values.json ? JSON.stringify(result) + '\n' : `${result.files} files, ${result.tokens} tokens: loss ${result.loss.toFixed(3)} nats per token, perplexity ${result.perplexity.toFixed(1)}, ${result.bitsPerByte.toFixed(3)} bits per byte\n`);
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
