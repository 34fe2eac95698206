import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TextTokenizer } from '../model/tokenizer';
import { countWords, tokenizerFiles, trainBpe, vocabularySize } from '../model-recipe/bpe';
import { readCorpusFiles } from '../model-recipe/corpus-files';
import { asUsageError, Command, UsageError } from './command';
import { positiveInteger } from './engine-options';

export const tokenizerCommand: Command = {
  name: 'tokenizer',
  summary: 'trains a byte-level BPE tokenizer on a corpus and writes tokenizer.json',
  usage: `gapo tokenizer --corpus DIR --out DIR [--vocab 8192] [--json]

Trains byte-level BPE on DIR/train.jsonl (from gapo corpus) until the vocabulary, with its
special tokens and prompt markers, holds --vocab tokens. Writes tokenizer.json and
tokenizer_config.json into --out and prints the bytes per token on DIR/heldout.jsonl.`,

  run(args, io) {
    const { values } = parseArgs({
      args,
      options: { corpus: { type: 'string' }, out: { type: 'string' }, vocab: { type: 'string', default: '8192' }, json: { type: 'boolean', default: false } },
      strict: true,
    });
    if (!values.corpus) throw new UsageError('missing --corpus DIR');
    if (!values.out) throw new UsageError('missing --out DIR');
    const vocab = positiveInteger('--vocab', values.vocab);
    const merges = vocab - vocabularySize(0);
    if (merges < 0) throw new UsageError(`--vocab must be at least ${vocabularySize(0)}`);
    const words = countWords(asUsageError(() => readCorpusFiles(join(values.corpus!, 'train.jsonl'))).map((f) => f.text));
    const model = trainBpe(words, merges, 2, (done) => io.stderr(`tokenizer: ${done}/${merges} merges\n`));
    const files = tokenizerFiles(model);
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'tokenizer.json'), JSON.stringify(files.tokenizer));
    writeFileSync(join(values.out, 'tokenizer_config.json'), JSON.stringify(files.config, null, 2) + '\n');
    const tokenizer = TextTokenizer.load(values.out);
    let bytes = 0;
    let tokens = 0;
    for (const file of asUsageError(() => readCorpusFiles(join(values.corpus!, 'heldout.jsonl')))) {
      bytes += Buffer.byteLength(file.text);
      tokens += tokenizer.encode(file.text).length;
    }
    const result = { vocab: tokenizer.vocabSize, merges: model.merges.length, heldOutBytes: bytes, heldOutTokens: tokens, bytesPerToken: bytes / tokens };
    io.stdout(values.json ? JSON.stringify(result) + '\n' : `vocabulary ${result.vocab} (${result.merges} merges); held-out text: ${result.bytesPerToken.toFixed(2)} bytes per token\n`);
    return 0;
  },
};
