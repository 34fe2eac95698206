import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readModelConfig } from '../model/config';
import { writeSafetensors } from '../model/safetensors';
import { ModelWeights } from '../model/weights';
import type { CorpusSummary } from '../model-recipe/corpus-files';
import { curveSvg } from '../model-recipe/curve-plot';
import type { CurvePoint } from '../model-recipe/cross-entropy-run';
import { Command, UsageError } from './command';

export const shipModelCommand: Command = {
  name: 'ship-model',
  summary: 'writes a trained model in F16 with its training curve and corpus list (models/default)',
  usage: `gapo ship-model --model DIR --out DIR [--curves A.json,B.json] [--corpus DIR]

Copies config.json and the tokenizer files of --model into --out and writes its weights as
F16 safetensors. With --curves (the curve.json of each training phase, in order) it draws
training-curve.svg; with --corpus (from gapo corpus) it lists the corpus's sources and
licences in corpus-sources.tsv.`,

  run(args, io) {
    const { values } = parseArgs({ args, options: { model: { type: 'string' }, out: { type: 'string' }, curves: { type: 'string' }, corpus: { type: 'string' } }, strict: true });
    if (!values.model) throw new UsageError('missing --model DIR');
    if (!values.out) throw new UsageError('missing --out DIR');
    const config = readModelConfig(values.model);
    const weights = ModelWeights.open(values.model, config);
    mkdirSync(values.out, { recursive: true });
    writeSafetensors(join(values.out, 'model.safetensors'), weights.specs.map((s) => ({ name: s.name, shape: s.shape, data: weights.read(s.name) })), { format: 'pt' }, 'F16');
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      if (existsSync(join(values.model, file))) copyFileSync(join(values.model, file), join(values.out, file));
    }
    if (values.curves) {
      const files = values.curves.split(',');
      const phases = files.map((file, i) => ({ name: `${['pretraining', 'edit tuning', 'more edit tuning'][i] ?? `phase ${i + 1}`} (held-out solid, training dashed)`, curve: JSON.parse(readFileSync(file, 'utf8')) as CurvePoint[] }));
      writeFileSync(join(values.out, 'training-curve.svg'), curveSvg(phases, 'The default model: loss during training'));
      writeFileSync(join(values.out, 'training-curve.json'), JSON.stringify(Object.fromEntries(phases.map((p, i) => [['pretrain', 'sft', 'sft-more'][i] ?? `phase${i + 1}`, p.curve]))) + '\n');
    }
    if (values.corpus) {
      const summary = JSON.parse(readFileSync(join(values.corpus, 'summary.json'), 'utf8')) as CorpusSummary;
      writeFileSync(join(values.out, 'corpus-sources.tsv'), 'source\tlicence\tfiles\tbytes\n' + summary.sources.map((s) => `${s.source}\t${s.licence}\t${s.files}\t${s.bytes}`).join('\n') + '\n');
    }
    io.stderr(`shipped ${values.model} to ${values.out} (F16)\n`);
    return 0;
  },
};
