import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../model/config';
import { initModel } from '../model/init-model';
import { presets } from '../model/presets';
import { TextTokenizer } from '../model/tokenizer';
import { END_OF_TEXT } from '../model-recipe/bpe';
import { readCorpusFiles } from '../model-recipe/corpus-files';
import { languageModelData, tokenStream } from '../model-recipe/lm-data';
import { runTraining } from '../model-recipe/cross-entropy-run';
import { asUsageError, Command, UsageError } from './command';
import { positiveInteger } from './engine-options';
import { reportRun, stepProgress, trainingRunOptions, trainingRunSpecs, trainingRunUsage } from './cross-entropy-options';

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'next-token training of a model from scratch on a corpus (checkpoints, resume)',
  usage: `gapo pretrain --corpus DIR --tokenizer DIR --shape NAME --out DIR --steps N [--seq 256] [options]

Makes a model of --shape (${Object.keys(presets).filter((p) => p.startsWith('code-')).join(', ')}) with the tokenizer in
--tokenizer (from gapo tokenizer), then trains every weight on windows of --seq tokens of
DIR/train.jsonl (from gapo corpus), reporting the loss on DIR/heldout.jsonl. The trained
model is written to OUT/model; OUT/curve.json holds the training curve.

${trainingRunUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...trainingRunSpecs, corpus: { type: 'string' }, tokenizer: { type: 'string' }, shape: { type: 'string' }, seq: { type: 'string', default: '256' }, 'held-out-sequences': { type: 'string', default: '16' } },
      strict: true,
    });
    for (const key of ['corpus', 'tokenizer', 'shape', 'out', 'steps'] as const) if (!values[key]) throw new UsageError(`missing --${key}`);
    const shape = presets[values.shape!];
    if (!shape || !values.shape!.startsWith('code-')) throw new UsageError(`unknown --shape ${values.shape}`);
    const out = values.out!;
    mkdirSync(out, { recursive: true });
    const initDir = join(out, 'init');
    if (!existsSync(join(initDir, 'model.safetensors'))) {
      initModel(parseModelConfig(shape, values.shape), initDir, { seed: Number(values.seed), tokenizer: { dir: values.tokenizer! }, init: 'training' });
    }
    const tokenizer = TextTokenizer.load(initDir);
    const endOfText = tokenizer.tokenId(END_OF_TEXT);
    if (endOfText === undefined) throw new UsageError(`${values.tokenizer}: the tokenizer has no ${END_OF_TEXT} token`);
    io.stderr('pretrain: tokenizing the corpus\n');
    const train = tokenStream(asUsageError(() => readCorpusFiles(join(values.corpus!, 'train.jsonl'))), tokenizer, endOfText, join(out, 'train-tokens.bin'));
    const heldOut = tokenStream(asUsageError(() => readCorpusFiles(join(values.corpus!, 'heldout.jsonl'))), tokenizer, endOfText, join(out, 'heldout-tokens.bin'));
    const options = trainingRunOptions(values, initDir, '3e-3');
    const batchSize = positiveInteger('--batch', values.batch!);
    const data = languageModelData(train, heldOut, { sequenceLength: positiveInteger('--seq', values.seq!), batchSize, heldOutSequences: positiveInteger('--held-out-sequences', values['held-out-sequences']!), seed: Number(values.seed) });
    io.stderr(`pretrain: ${train.length} tokens (${data.windows} windows), ${heldOut.length} held out; ${options.steps} steps of ${batchSize}\n`);
    const { bar, onStep } = stepProgress(options.steps, io);
    const report = await runTraining(data, options, (line) => bar.line(line), onStep);
    bar.done();
    reportRun(report, out, values.json!, io);
    return 0;
  },
};
