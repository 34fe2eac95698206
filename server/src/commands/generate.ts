import { parseArgs } from 'node:util';
import { Command, UsageError } from './command';
import { engineOptionSpecs, engineOptionsUsage, loadEngine, nonNegativeNumber, positiveInteger } from './engine-options';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt with a model',
  usage: `gapo generate --model DIR --prompt TEXT [--max-tokens 64] [--temperature 0] [--top-p 1]
                    [--top-k 0] [--seed 0] [--samples 1] [--stop TEXT ...] [--json]

Prints the continuation (each sample's, separated by blank lines), or with --json an array of
{"text", "tokens", "logprobs", "finishReason"}. Temperature 0 is greedy decoding.

${engineOptionsUsage}`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        ...engineOptionSpecs,
        prompt: { type: 'string' },
        'max-tokens': { type: 'string', default: '64' },
        temperature: { type: 'string', default: '0' },
        'top-p': { type: 'string', default: '1' },
        'top-k': { type: 'string', default: '0' },
        seed: { type: 'string', default: '0' },
        samples: { type: 'string', default: '1' },
        stop: { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values.prompt === undefined) throw new UsageError('missing --prompt TEXT');
    const topP = Number(values['top-p']);
    if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got ${values['top-p']}`);
    const options = {
      maxTokens: positiveInteger('--max-tokens', values['max-tokens']),
      temperature: nonNegativeNumber('--temperature', values.temperature),
      topP,
      topK: Math.floor(nonNegativeNumber('--top-k', values['top-k'])),
      seed: Math.floor(nonNegativeNumber('--seed', values.seed)),
      samples: positiveInteger('--samples', values.samples),
      stop: values.stop,
    };
    const engine = await loadEngine(values, io);
    try {
      const generations = await engine.generate(values.prompt, options);
      io.stdout(values.json ? JSON.stringify(generations) + '\n' : generations.map((g) => g.text).join('\n\n') + '\n');
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
