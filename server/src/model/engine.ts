// The model engine: loads a Hugging Face model directory, builds its ONNX graphs, and runs
// them with ONNX Runtime for generation (prefill + decode with a KV cache, G samples sharing
// one prefill, prompt-prefix reuse across requests) and for scoring log-probabilities.
//
// `session.run` is synchronous in onnxruntime-node, so the language server never calls this
// class directly: it runs inside a worker thread (engine-worker.ts, client in engine-client.ts).

import { availableParallelism } from 'node:os';
import { type PromptFormatSpec, promptFormatFor, promptFormatNamed } from '../edits/prompt-format';
import { seededRandom } from '../edits/text';
import { ModelConfig, readModelConfig } from './config';
import { copyCacheFeeds, CopyCacheSettings, CopyHistory } from './copy-cache';
import { causalMask, emptyCache, type KvCache, positionIds, selectRows, truncateCache, withCapacity, writeStep } from './kv-cache';
import { buildDecoderGraph, buildScorerGraph, CACHE_INPUTS, DECODER_INPUTS, pastKey, pastValue, stepKey, stepValue } from './llama';
import { LoraAdapter } from './lora';
import * as ort from './ort';
import { WEIGHT_DTYPES } from './quantize';
import { sampleToken } from './sampling';
import { createSession, type ExecutionProvider, SHARED_WEIGHTS_SESSION, writeGraph } from './sessions';
import { TextTokenizer } from './tokenizer';
import { defaultCacheRoot, ModelWeights, prepareWeightCache, WeightLayout } from './weights';
import type { WeightDType } from '../protocol';

export interface EngineOptions {
  modelDir: string;
  /** Where converted weights and graphs are kept (default ~/.cache/gapo-assistant/weights). */
  cacheDir?: string;
  provider?: ExecutionProvider;
  /** ONNX Runtime's intra-op threads (default: all cores). */
  threads?: number;
  /** A PEFT LoRA adapter directory to apply from the start. */
  adapterDir?: string;
  /** The weights' precision: f32 (default), or 8- or 4-bit blocks (MatMulNBits). */
  dtype?: WeightDType;
  /** The prompt format to speak, over what the model declares (see edits/prompt-format.ts). */
  promptFormat?: string;
  log?: (message: string) => void;
}

export interface GenerateOptions {
  maxTokens: number;
  /** 0 is greedy. */
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
  /** How many samples (G); they share the prompt's prefill. */
  samples: number;
  /**
   * Stop, without the token, where the chosen token's probability falls below this: the
   * confidence gate of suggestions, so a small model shows what it is sure of and no more.
   */
  minProbability: number;
}

export const defaultGenerateOptions: GenerateOptions = { maxTokens: 64, temperature: 0, topP: 1, topK: 0, seed: 0, stop: [], samples: 1, minProbability: 0 };

/** `unsure`: the next token fell below `minProbability`. */
export type FinishReason = 'eos' | 'stop' | 'length' | 'unsure' | 'cancelled';

export interface Generation {
  text: string;
  tokens: number[];
  /** The model's log-probability (temperature 1) of each sampled token. */
  logprobs: number[];
  finishReason: FinishReason;
  /** With finishReason 'eos': the end token sampled, and its log-probability (RL trains on it). */
  eos?: { token: number; logprob: number };
}

export interface ScoreOptions {
  /** false scores with the base model (adapter off): the reference policy of the KL term. */
  adapter?: boolean;
  /** The copy cache to score under: the model's own by default, null for the model alone (tuning, ablations). */
  copyCache?: CopyCacheSettings | null;
}

export interface ScoreRequest {
  ids: number[];
  /** Score tokens from this position on (at least 1: the first token has no context). */
  start: number;
}

export interface Score {
  logprobs: number[];
  entropy: number[];
}

export interface EngineInfo {
  modelDir: string;
  architecture: string;
  provider: ExecutionProvider;
  dtype: WeightDType;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  parameters: number;
  /** How this model is prompted for an edit. */
  promptFormat: PromptFormatSpec;
}

export class EngineError extends Error {}

/**
 * A decoder run's next-token logits per row ([batch · vocab]), their log Σ exp per row, the cache
 * after it, and (when asked) the final hidden states of the run's positions ([batch · seq · hidden]).
 */
export interface DecoderStep {
  logits: Float32Array;
  logSumExp: Float32Array;
  cache: KvCache;
  hidden?: Float32Array;
}

/** Budget for the scorer's [scored tokens, vocab] float logits in one run. */
const SCORER_LOGIT_BYTES = 512 * 1024 * 1024;
/** And for the tokens it runs through the layers at once (activations grow with them). */
const SCORER_MAX_TOKENS = 4096;

export class Engine {
  /** The scorer sessions: the model alone, and mixed with a copy cache. */
  private readonly scorers = new Map<boolean, ort.InferenceSession>();
  /** The last prompt's ids, its batch-1 cache and (with a copy cache) its hidden states, for prefix reuse by the next request. */
  private lastPrompt: { ids: number[]; cache: KvCache; hidden?: Float32Array } | null = null;
  /** Tokens of the last prefill that came from the reused prefix (for tests and benchmarks). */
  lastReusedTokens = 0;
  private adapter: LoraAdapter | null = null;
  private adapterFeeds: Record<string, ort.Tensor>;
  private readonly baseFeeds: Record<string, ort.Tensor>;

  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: TextTokenizer,
    readonly info: EngineInfo,
    /** The decoder session now loaded: with LoRA branches while an adapter is set, else without. */
    private decoder: { session: ort.InferenceSession; lora: boolean },
    private readonly layout: WeightLayout,
    /** ONNX Runtime's options for this model's sessions (threads, provider): the trainer's use them too. */
    readonly sessionOptions: ort.InferenceSession.SessionOptions,
  ) {
    this.baseFeeds = LoraAdapter.zero(config).feeds();
    this.adapterFeeds = this.baseFeeds;
  }

  static async load(options: EngineOptions): Promise<Engine> {
    const log = options.log ?? (() => {});
    // ONNX Runtime's own log goes to stderr; its errors reach us as exceptions anyway, and a
    // missing CUDA library is reported below in one readable line.
    ort.env.logLevel = 'fatal';
    const config = readModelConfig(options.modelDir);
    const tokenizer = TextTokenizer.load(options.modelDir, config.eosTokenIds);
    const weights = ModelWeights.open(options.modelDir, config);
    const dtype = options.dtype ?? 'f32';
    if (!WEIGHT_DTYPES.includes(dtype)) throw new EngineError(`unknown weight dtype ${dtype}: ${WEIGHT_DTYPES.join(', ')}`);
    const layout = prepareWeightCache(weights, options.cacheDir ?? defaultCacheRoot(), dtype);
    const lora = options.adapterDir !== undefined;
    const graphPath = writeDecoderGraph(config, layout, lora);
    const threads = options.threads ?? availableParallelism();
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3, // errors only: ONNX Runtime's warnings are not the user's business
    };
    const { session, provider, sessionOptions } = await createSession(graphPath, base, options.provider ?? 'cpu', log);
    const parameters = weights.specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
    const info: EngineInfo = {
      modelDir: options.modelDir,
      architecture: config.architecture,
      provider,
      dtype,
      layers: config.numLayers,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      parameters,
      promptFormat: modelPromptFormat(config, tokenizer, options.promptFormat),
    };
    log(`loaded ${config.architecture} (${(parameters / 1e6).toFixed(1)}M parameters, ${dtype}, ${info.promptFormat.name} prompts) from ${options.modelDir} on ${provider}`);
    const engine = new Engine(config, tokenizer, info, { session, lora }, layout, sessionOptions);
    if (options.adapterDir) engine.setAdapter(LoraAdapter.load(options.adapterDir, config));
    return engine;
  }

  /** The weight cache these graphs read (the trainer builds its graphs on it too). */
  get weightLayout(): WeightLayout {
    return this.layout;
  }

  /** Applies an adapter (null: the base model) from the next request on, without reloading. */
  setAdapter(adapter: LoraAdapter | null): void {
    this.adapter = adapter;
    this.adapterFeeds = adapter ? adapter.feeds() : this.baseFeeds;
    this.clearPrefixCache(); // cached keys and values were computed with the old weights
  }

  get currentAdapter(): LoraAdapter | null {
    return this.adapter;
  }

  async dispose(): Promise<void> {
    await this.decoder.session.release();
    for (const scorer of this.scorers.values()) await scorer.release();
  }

  /** Generates `samples` continuations of a prompt (text or token ids). */
  async generate(prompt: string | number[], options: Partial<GenerateOptions> = {}, isCancelled: () => boolean = () => false): Promise<Generation[]> {
    const o = { ...defaultGenerateOptions, ...options };
    if (!(o.samples >= 1) || !(o.maxTokens >= 1)) throw new EngineError('samples and maxTokens must be at least 1');
    const ids = this.fitPrompt(prompt, o.maxTokens);

    const prefill = await this.prefill(ids, o.maxTokens);
    const copy = this.config.copyCache;
    // The copy cache: each sample's tokens and states, the prompt's shared.
    const histories = copy ? Array.from({ length: o.samples }, () => new CopyHistory(this.config.hiddenSize, this.lastPrompt!.hidden!, ids)) : null;
    const mixed = copy ? Array.from({ length: o.samples }, () => new Float32Array(this.config.vocabSize)) : null;
    const randoms = Array.from({ length: o.samples }, (_, row) => seededRandom((o.seed * 1000003 + row * 7919) >>> 0));
    const results: Generation[] = Array.from({ length: o.samples }, () => ({ text: '', tokens: [], logprobs: [], finishReason: 'length' as FinishReason }));
    let active = results.map((_, row) => row);
    // One sample decodes on in the prompt's own buffers (the reusable prefix keeps its length,
    // so the positions after it are free); G samples get a row each.
    let cache = o.samples === 1 ? prefill.cache : selectRows(prefill.cache, active.map(() => 0), this.config, ids.length + o.maxTokens);
    let logits: Float32Array[] = active.map(() => prefill.logits);
    let logSumExp: number[] = active.map(() => prefill.logSumExp[0]);
    const eos = new Set(this.tokenizer.eosIds);
    // One logits buffer for every decode step: each step's logits are sampled before the next.
    const logitsBuffer = new Float32Array(o.samples * this.config.vocabSize);

    for (let step = 0; step < o.maxTokens; step++) {
      const next: number[] = [];
      const stillActive: number[] = [];
      if (histories) {
        // The policy's distribution is the mixture: sample from it, report its log-probability.
        logits = active.map((row, i) => histories[row].mix(logits[i], logSumExp[i], copy!, mixed![row]));
        logSumExp = active.map(() => 0);
      }
      active.forEach((row, i) => {
        const token = sampleToken(logits[i], o, randoms[row]);
        const result = results[row];
        if (eos.has(token)) {
          result.finishReason = 'eos';
          result.eos = { token, logprob: logits[i][token] - logSumExp[i] };
          return;
        }
        const logprob = logits[i][token] - logSumExp[i];
        if (Math.exp(logprob) < o.minProbability) {
          result.finishReason = 'unsure';
          return;
        }
        result.tokens.push(token);
        result.logprobs.push(logprob);
        result.text = this.tokenizer.decode(result.tokens);
        const stopAt = firstStop(result.text, o.stop);
        if (stopAt >= 0) {
          result.text = result.text.slice(0, stopAt);
          result.finishReason = 'stop';
          return;
        }
        next.push(token);
        stillActive.push(i);
      });
      if (stillActive.length === 0 || step === o.maxTokens - 1) break;
      if (isCancelled()) {
        for (const i of stillActive) results[active[i]].finishReason = 'cancelled';
        break;
      }
      // Rows that finished leave the batch, so their cache stops costing decode time.
      if (stillActive.length < active.length) cache = selectRows(cache, stillActive, this.config);
      active = stillActive.map((i) => active[i]);
      const out = await this.runDecoder(next.map((t) => [t]), cache, logitsBuffer, histories !== null);
      if (histories) {
        const size = this.config.hiddenSize;
        active.forEach((row, i) => histories[row].append(next[i], out.hidden!.subarray(i * size, (i + 1) * size)));
      }
      cache = out.cache;
      logits = active.map((_, i) => out.logits.subarray(i * this.config.vocabSize, (i + 1) * this.config.vocabSize));
      logSumExp = Array.from(out.logSumExp);
    }
    return results;
  }

  /**
   * The token ids a prompt is generated from: tokenized, started from BOS (or EOS) when empty,
   * and cut to its end when it leaves no room for `maxTokens` (the cursor is at the end).
   */
  fitPrompt(prompt: string | number[], maxTokens: number): number[] {
    let ids = typeof prompt === 'string' ? this.tokenizer.encode(prompt) : [...prompt];
    if (ids.length === 0) {
      const start = this.config.bosTokenId ?? this.tokenizer.eosIds[0];
      if (start === undefined) throw new EngineError('the prompt is empty and the model has no BOS or EOS token to start from');
      ids = [start];
    }
    this.checkVocabulary(ids);
    const room = this.config.maxPositions - maxTokens;
    if (room < 1) throw new EngineError(`maxTokens ${maxTokens} leaves no room in the model's ${this.config.maxPositions} positions`);
    return ids.length > room ? ids.slice(ids.length - room) : ids;
  }

  /**
   * Runs a prompt through the model (batch 1) and returns the next-token logits and the cache
   * (with room for `room` more positions), reusing the cache of the longest prefix shared with
   * the previous prompt: only the new tokens run.
   */
  async prefill(ids: number[], room = 0): Promise<DecoderStep> {
    this.checkIds(ids);
    let reuse = 0;
    if (this.lastPrompt) {
      const previous = this.lastPrompt.ids;
      const limit = Math.min(previous.length, ids.length - 1); // at least one token must run
      while (reuse < limit && previous[reuse] === ids[reuse]) reuse++;
    }
    const past = reuse > 0 ? truncateCache(this.lastPrompt!.cache, reuse) : emptyCache(this.config, 1);
    const copy = this.config.copyCache !== undefined;
    const out = await this.runDecoder([ids.slice(reuse)], withCapacity(past, Math.min(ids.length + room, this.config.maxPositions), this.config), undefined, copy);
    let hidden: Float32Array | undefined;
    if (copy) {
      // The reused prefix's states, then the new positions'.
      const size = this.config.hiddenSize;
      hidden = new Float32Array(ids.length * size);
      if (reuse > 0) hidden.set(this.lastPrompt!.hidden!.subarray(0, reuse * size));
      hidden.set(out.hidden!, reuse * size);
    }
    this.lastReusedTokens = reuse;
    this.lastPrompt = { ids: [...ids], cache: out.cache, hidden };
    return out;
  }

  /** Forgets the reusable prefix (to measure a cold prefill, or after an adapter change). */
  clearPrefixCache(): void {
    this.lastPrompt = null;
  }

  /**
   * One forward step of the decoder over `tokens` ([batch][new tokens]) after `cache`. The new
   * keys and values are written into the cache's buffers in place (grown first when full): the
   * returned cache shares them, and `cache` itself must not be used for positions past its
   * length again. With `logitsBuffer`, ONNX Runtime writes the logits into it instead of a fresh
   * allocation (the decode loop reuses one buffer for every step). `withHidden`: the positions'
   * final hidden states come back too (the copy cache reads them).
   */
  async runDecoder(tokens: number[][], cache: KvCache, logitsBuffer?: Float32Array, withHidden = false): Promise<DecoderStep> {
    const batch = tokens.length;
    const seq = tokens[0].length;
    if (cache.batch !== batch) throw new EngineError(`cache holds ${cache.batch} rows, got ${batch}`);
    const { numKvHeads, headDim, numLayers } = this.config;
    const total = cache.length + seq;
    const room = withCapacity(cache, total, this.config);
    const feeds: Record<string, ort.Tensor> = {
      ...(this.adapter ? this.adapterFeeds : {}),
      [DECODER_INPUTS.ids]: new ort.Tensor('int64', BigInt64Array.from(tokens.flat(), BigInt), [batch, seq]),
      [DECODER_INPUTS.positions]: new ort.Tensor('int64', positionIds(batch, seq, cache.length), [batch, seq]),
      [CACHE_INPUTS.seqlens]: new ort.Tensor('int32', new Int32Array(batch).fill(total - 1), [batch]),
      [CACHE_INPUTS.total]: new ort.Tensor('int32', Int32Array.of(total), []),
    };
    const vocab = this.config.vocabSize;
    const fetches: Record<string, ort.Tensor | null> = { logits: logitsBuffer ? new ort.Tensor('float32', logitsBuffer.subarray(0, batch * vocab), [batch, vocab]) : null, logsumexp: null };
    if (withHidden) fetches.hidden = null;
    const dims = [batch, numKvHeads, room.capacity, headDim];
    for (let layer = 0; layer < numLayers; layer++) {
      feeds[pastKey(layer)] = new ort.Tensor('float32', room.keys[layer], dims);
      feeds[pastValue(layer)] = new ort.Tensor('float32', room.values[layer], dims);
      // Only the new positions come back: the binding copies every fetched output into a new
      // buffer, and fetching the whole cache made a step's cost grow with its capacity.
      fetches[stepKey(layer)] = null;
      fetches[stepValue(layer)] = null;
    }
    const out = await (await this.decoderSession()).run(feeds, fetches);
    for (let layer = 0; layer < numLayers; layer++) {
      writeStep(room, layer, out[stepKey(layer)].data as Float32Array, out[stepValue(layer)].data as Float32Array, seq, this.config);
    }
    return {
      logits: logitsBuffer ? logitsBuffer.subarray(0, batch * vocab) : (out.logits.data as Float32Array),
      logSumExp: out.logsumexp.data as Float32Array,
      cache: { ...room, length: total },
      ...(withHidden ? { hidden: out.hidden.data as Float32Array } : {}),
    };
  }

  /** Log-probabilities (and entropies) of each sequence's tokens from `start` on. */
  async score(requests: ScoreRequest[], options: ScoreOptions = {}): Promise<Score[]> {
    const loraFeeds = options.adapter === false ? this.baseFeeds : this.adapterFeeds;
    const copy = options.copyCache === undefined ? this.config.copyCache : (options.copyCache ?? undefined);
    for (const r of requests) {
      this.checkIds(r.ids);
      if (!(Number.isInteger(r.start) && r.start >= 1 && r.start <= r.ids.length)) {
        throw new EngineError(`start ${r.start} must be between 1 and the sequence length ${r.ids.length}`);
      }
    }
    const scorer = await this.scorerSession(copy !== undefined);
    const results: Score[] = new Array(requests.length);
    // Longest first, in micro-batches that keep the scored logits and the states in budget.
    const order = requests.map((_, i) => i).sort((a, b) => requests[b].ids.length - requests[a].ids.length);
    for (let i = 0; i < order.length; ) {
      const seq = requests[order[i]].ids.length;
      let rows = 0;
      let scored = 0;
      while (i + rows < order.length) {
        const r = requests[order[i + rows]];
        const next = scored + r.ids.length - r.start;
        if (rows > 0 && (next * this.config.vocabSize * 4 > SCORER_LOGIT_BYTES || (rows + 1) * seq > SCORER_MAX_TOKENS)) break;
        scored = next;
        rows++;
      }
      const chunk = order.slice(i, i + rows);
      i += rows;
      const ids = new BigInt64Array(rows * seq);
      const scoreRows = new BigInt64Array(scored);
      const scoreTargets = new BigInt64Array(scored);
      let m = 0;
      chunk.forEach((index, row) => {
        const { ids: sequence, start } = requests[index];
        for (let t = 0; t < sequence.length; t++) ids[row * seq + t] = BigInt(sequence[t]);
        // Position t predicts token t + 1.
        for (let t = start; t < sequence.length; t++, m++) {
          scoreRows[m] = BigInt(row * seq + t - 1);
          scoreTargets[m] = BigInt(sequence[t]);
        }
      });
      const out = await scorer.run({
        ...loraFeeds,
        ...copyCacheFeeds(copy),
        [DECODER_INPUTS.ids]: new ort.Tensor('int64', ids, [rows, seq]),
        [DECODER_INPUTS.positions]: new ort.Tensor('int64', positionIds(rows, seq, 0), [rows, seq]),
        [DECODER_INPUTS.mask]: new ort.Tensor('bool', causalMask(rows, seq, 0), [rows, 1, seq, seq]),
        score_rows: new ort.Tensor('int64', scoreRows, [scored]),
        score_targets: new ort.Tensor('int64', scoreTargets, [scored]),
      });
      const logprobs = out.logprobs.data as Float32Array;
      const entropy = out.entropy.data as Float32Array;
      let from = 0;
      for (const index of chunk) {
        const count = requests[index].ids.length - requests[index].start;
        results[index] = { logprobs: Array.from(logprobs.subarray(from, from + count)), entropy: Array.from(entropy.subarray(from, from + count)) };
        from += count;
      }
    }
    return results;
  }

  /**
   * The decoder for the current adapter. Without one, the graph without LoRA branches: on the
   * 0.5B shape their 336 small products cost a tenth of a decode step. One session at a time,
   * so the weights are packed once.
   */
  private async decoderSession(): Promise<ort.InferenceSession> {
    const lora = this.adapter !== null;
    if (this.decoder.lora !== lora) {
      await this.decoder.session.release();
      this.decoder = { session: await ort.InferenceSession.create(writeDecoderGraph(this.config, this.layout, lora), this.sessionOptions), lora };
    }
    return this.decoder.session;
  }

  private async scorerSession(copy: boolean): Promise<ort.InferenceSession> {
    let scorer = this.scorers.get(copy);
    if (!scorer) {
      const path = writeGraph(this.layout, copy ? 'scorer-copy' : 'scorer', buildScorerGraph(this.config, this.layout, copy).toBytes());
      scorer = await ort.InferenceSession.create(path, { ...this.sessionOptions, ...SHARED_WEIGHTS_SESSION });
      this.scorers.set(copy, scorer);
    }
    return scorer;
  }

  private checkIds(ids: readonly number[]): void {
    this.checkVocabulary(ids);
    if (ids.length > this.config.maxPositions) throw new EngineError(`${ids.length} tokens exceed the model's ${this.config.maxPositions} positions`);
  }

  private checkVocabulary(ids: readonly number[]): void {
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= this.config.vocabSize);
    if (bad >= 0) throw new EngineError(`token id ${ids[bad]} at position ${bad} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
  }
}

function writeDecoderGraph(config: ModelConfig, layout: WeightLayout, lora: boolean): string {
  return writeGraph(layout, lora ? 'decoder' : 'decoder-base', buildDecoderGraph(config, layout, { lora }).toBytes());
}

/** The format a model is prompted in: the override, else what its config and vocabulary declare. */
export function modelPromptFormat(config: ModelConfig, tokenizer: TextTokenizer, override?: string): PromptFormatSpec {
  const hasToken = (token: string) => tokenizer.tokenId(token) !== undefined;
  let format;
  try {
    format = override ? promptFormatNamed(override, hasToken) : promptFormatFor(config.promptFormat, hasToken);
  } catch (error) {
    throw new EngineError((error as Error).message);
  }
  return { name: format.name, tokens: format.tokens };
}

function firstStop(text: string, stops: string[]): number {
  let first = -1;
  for (const stop of stops) {
    const at = stop ? text.indexOf(stop) : -1;
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}
