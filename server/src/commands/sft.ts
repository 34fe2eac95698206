import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Episode, readEpisodes } from '../edits/episode';
import { TextTokenizer } from '../model/tokenizer';
import { CODE_EXTENSIONS } from '../model-recipe/corpus';
import { readCorpusFiles } from '../model-recipe/corpus-files';
import { formatOf } from '../edits/prompt-format';
import { readModelConfig } from '../model/config';
import { modelPromptFormat } from '../model/engine';
import { defaultEditDataOptions, EXAMPLE_KINDS, editTuningData, mixFor, parseMix } from '../model-recipe/edit-data';
import { runTraining } from '../model-recipe/cross-entropy-run';
import { asUsageError, Command, UsageError } from './command';
import { positiveInteger } from './engine-options';
import { reportRun, stepProgress, trainingRunOptions, trainingRunSpecs, trainingRunUsage } from './cross-entropy-options';

export const sftCommand: Command = {
  name: 'sft',
  summary: 'supervised tuning of a model on edit episodes in the prompt format (checkpoints, resume)',
  usage: `gapo sft --model DIR --episodes DIR --corpus DIR --out DIR --steps N [--format NAME] [options]

Trains every weight of --model on the answers of edit prompts in a prompt format: the
*.train.jsonl episodes in --episodes (never *.test.jsonl; one in 50 is held out), mixed with
episodes made from the corpus's code (from gapo corpus): finishing the line being typed,
carrying a rename further (edit format), filling a span of new lines (fill-in-the-middle),
filling words inside a line before text that stays (mid-line, only with --mix), and regions
to leave unchanged. The trained model is written to OUT/model, its config
declaring the format; OUT/curve.json holds the training curve.

  --format NAME     edit (rewrite the region; the default for a model that declares none),
                    fim-spm or fim-psm (insert at the cursor; needs FIM tokens)
  --mix K=S,...     the shares of the example kinds (${EXAMPLE_KINDS.join(', ')});
                    kinds left out get none (default: the format's mix, in server/src/model-recipe/edit-data.ts)

${trainingRunUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...trainingRunSpecs, model: { type: 'string' }, episodes: { type: 'string' }, corpus: { type: 'string' }, format: { type: 'string' }, mix: { type: 'string' } },
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
    const config = asUsageError(() => readModelConfig(values.model!));
    const tokenizer = TextTokenizer.load(values.model!, config.eosTokenIds);
    const format = formatOf(asUsageError(() => modelPromptFormat(config, tokenizer, values.format)));
    const mix = values.mix === undefined ? mixFor(format) : asUsageError(() => parseMix(values.mix!));
    const batchSize = positiveInteger('--batch', values.batch!);
    const data = editTuningData(train, corpus('train.jsonl'), { episodes: heldOut, files: corpus('heldout.jsonl') }, tokenizer, {
      ...defaultEditDataOptions,
      format,
      mix,
      batchSize,
      seed: Number(values.seed),
    });
    const options = { ...trainingRunOptions(values, values.model!, '1e-3'), promptFormat: format.name };
    io.stderr(`sft: ${train.length} episodes (${heldOut.length} held out) and corpus code, ${format.name} prompts; ${options.steps} steps of ${batchSize}\n`);
    const { bar, onStep } = stepProgress(options.steps, io);
    const report = await runTraining(data, options, (line) => bar.line(line), onStep);
    bar.done();
    reportRun(report, values.out!, values.json!, io);
    return 0;
  },
};
