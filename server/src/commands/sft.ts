import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Episode, readEpisodes } from '../edits/episode';
import { TextTokenizer } from '../model/tokenizer';
import { CODE_EXTENSIONS } from '../pretrain/corpus';
import { readCorpusFiles } from '../pretrain/corpus-files';
import { defaultEditDataOptions, editTuningData } from '../pretrain/edit-data';
import { runTraining } from '../pretrain/training-run';
import { asUsageError, Command, UsageError } from './command';
import { positiveInteger } from './engine-options';
import { reportRun, stepProgress, trainingRunOptions, trainingRunSpecs, trainingRunUsage } from './training-options';

export const sftCommand: Command = {
  name: 'sft',
  summary: 'supervised tuning of a model on edit episodes in the prompt format (checkpoints, resume)',
  usage: `gapo sft --model DIR --episodes DIR --corpus DIR --out DIR --steps N [options]

Trains every weight of --model on the answers (the rewritten region and its end marker) of
edit prompts: the *.train.jsonl episodes in --episodes (never *.test.jsonl; one in 50 is held
out), mixed with episodes made from the corpus's code (from gapo corpus): finishing the line
being typed, carrying a rename further, and regions to leave unchanged. The trained model is
written to OUT/model; OUT/curve.json holds the training curve.

${trainingRunUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...trainingRunSpecs, model: { type: 'string' }, episodes: { type: 'string' }, corpus: { type: 'string' } },
      strict: true,
    });
    for (const key of ['model', 'episodes', 'corpus', 'out', 'steps'] as const) if (!values[key]) throw new UsageError(`missing --${key}`);
    if (!existsSync(join(values.model!, 'config.json'))) throw new UsageError(`${values.model}: no config.json (a model directory is needed)`);
    const files = asUsageError(() => readdirSync(values.episodes!)).filter((name) => name.endsWith('.train.jsonl')).sort();
    if (files.length === 0) throw new UsageError(`${values.episodes}: no *.train.jsonl files`);
    const train: Episode[] = [];
    const heldOut: Episode[] = [];
    for (const name of files) {
      asUsageError(() => readEpisodes(join(values.episodes!, name))).forEach((episode, i) => (i % 50 === 49 ? heldOut : train).push(episode));
    }
    const corpus = (name: string) => asUsageError(() => readCorpusFiles(join(values.corpus!, name))).filter((f) => CODE_EXTENSIONS.has(extname(f.path)));
    const tokenizer = TextTokenizer.load(values.model!);
    const batchSize = positiveInteger('--batch', values.batch!);
    const data = editTuningData(train, corpus('train.jsonl'), { episodes: heldOut, files: corpus('heldout.jsonl') }, tokenizer, { ...defaultEditDataOptions, batchSize, seed: Number(values.seed) });
    const options = trainingRunOptions(values, values.model!, '1e-3');
    io.stderr(`sft: ${train.length} episodes (${heldOut.length} held out) and corpus code; ${options.steps} steps of ${batchSize}\n`);
    const { bar, onStep } = stepProgress(options.steps, io);
    const report = await runTraining(data, options, (line) => bar.line(line), onStep);
    bar.done();
    reportRun(report, values.out!, values.json!, io);
    return 0;
  },
};
