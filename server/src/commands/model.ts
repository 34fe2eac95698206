import { parseArgs } from 'node:util';
import { DEFAULT_HUB, HubError, pullModel, type PullProgress } from '../model/hub';
import { Command, UsageError } from './command';

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export const modelCommand: Command = {
  name: 'model',
  summary: 'pull a model from the Hugging Face hub into the shared hub cache',
  usage: `gapo model pull ORG/NAME[@REVISION] [--cache DIR] [--json]

Downloads what a model needs (config, tokenizer, safetensors weights and their index) into the
hub cache that Python's huggingface_hub shares (HF_HUB_CACHE, else HF_HOME/hub, else
~/.cache/huggingface/hub), resuming a download that was cut, checking each file against the
hub's hash, and prints the model's folder. A model already there is not downloaded again.
Every model command then takes --model ORG/NAME (or the folder). Llama and Qwen2 models, such
as Qwen/Qwen2.5-Coder-0.5B (Apache-2.0, 1 GB) or Qwen/Qwen2.5-Coder-1.5B (3 GB).

  HF_ENDPOINT   the hub, or a mirror of it (default ${DEFAULT_HUB})
  HF_TOKEN      an access token, for gated and private models
  --cache DIR   the hub cache instead of the default`,

  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { cache: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
    const [action, id, ...rest] = positionals;
    if (action !== 'pull') throw new UsageError(action ? `unknown action ${action} (only pull)` : 'missing the action: gapo model pull ORG/NAME');
    if (!id || rest.length) throw new UsageError('gapo model pull takes one model id, ORG/NAME[@REVISION]');
    const tty = Boolean(process.stderr.isTTY);
    let shownTenth = -1;
    const onProgress = ({ file, done, total, bytesPerSecond }: PullProgress) => {
      const line = `${mib(done)}/${mib(total)} MiB  ${mib(bytesPerSecond)} MiB/s  ${file}`;
      if (tty) io.stderr(`\r${line}\x1b[K`);
      else if (Math.floor((10 * done) / total) > shownTenth) {
        shownTenth = Math.floor((10 * done) / total);
        io.stderr(`${line}\n`);
      }
    };
    let pulled;
    try {
      pulled = await pullModel(id, { cacheDir: values.cache, onProgress });
    } catch (error) {
      if (tty) io.stderr('\n');
      if (error instanceof HubError) throw new UsageError(error.message);
      throw error;
    }
    if (tty && pulled.downloaded > 0) io.stderr('\n');
    io.stderr(pulled.downloaded > 0 ? `pulled ${id} (${pulled.commit.slice(0, 12)}): ${mib(pulled.downloaded)} MiB\n` : `${id} (${pulled.commit.slice(0, 12)}) is in the cache already\n`);
    io.stdout(values.json ? `${JSON.stringify(pulled)}\n` : `${pulled.dir}\n`);
    return 0;
  },
};
