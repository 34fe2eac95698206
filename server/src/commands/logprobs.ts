import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ScoreRequest } from '../model/engine';
import { Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine } from './engine-options';

export const logprobsCommand: Command = {
  name: 'logprobs',
  summary: 'log-probabilities of given continuations under a model',
  usage: `gapo logprobs --model DIR (--input FILE | --text PROMPT --text CONTINUATION [...])

--input FILE holds {"ids": [[...], ...], "start": [k, ...]}: token ids per sequence, and the
position from which to score (at least 1). --text takes (prompt, continuation) pairs and scores
the continuation's tokens. Prints {"logprobs": [[...], ...]}, one value per scored token.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...engineOptionSpecs, input: { type: 'string' }, text: { type: 'string', multiple: true } },
      strict: true,
    });
    if ((values.input === undefined) === (values.text === undefined)) throw new UsageError('give --input FILE or --text pairs (one of them)');
    const requestsFromIds = values.input !== undefined ? readIdsFile(values.input) : null;
    if (values.text && values.text.length % 2 !== 0) throw new UsageError('--text takes pairs: --text PROMPT --text CONTINUATION');
    const engine = await loadEngine(values, io);
    try {
      let requests = requestsFromIds;
      if (!requests) {
        requests = [];
        for (let i = 0; i < values.text!.length; i += 2) {
          const prompt = engine.tokenizer.encode(values.text![i]);
          const continuation = engine.tokenizer.encode(values.text![i + 1]);
          if (prompt.length === 0 || continuation.length === 0) throw new UsageError('a --text prompt and continuation must each hold at least one token');
          requests.push({ ids: [...prompt, ...continuation], start: prompt.length });
        }
      }
      let scores;
      try {
        scores = await engine.score(requests);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      io.stdout(JSON.stringify({ logprobs: scores.map((s) => s.logprobs) }) + '\n');
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

function readIdsFile(file: string): ScoreRequest[] {
  let input: { ids?: unknown; start?: unknown };
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read --input ${file}: ${(error as Error).message}`);
  }
  const { ids, start } = input ?? {};
  if (!Array.isArray(ids) || !ids.every((row) => Array.isArray(row) && row.every(Number.isInteger))) {
    throw new UsageError(`${file}: "ids" must be an array of arrays of token ids`);
  }
  const starts = start === undefined ? ids.map(() => 1) : start;
  if (!Array.isArray(starts) || starts.length !== ids.length) throw new UsageError(`${file}: "start" must hold one position per sequence`);
  return ids.map((row, i) => ({ ids: row as number[], start: starts[i] as number }));
}
