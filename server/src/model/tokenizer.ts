// Text ⇄ token ids, with the model's own tokenizer.json through @huggingface/tokenizers.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export class TokenizerError extends Error {}

export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Ids that end a generation: the config's eos ids and the tokenizer's eos token. */
    readonly eosIds: number[],
    readonly vocabSize: number,
  ) {}

  static load(modelDir: string, configEosIds: number[] = []): TextTokenizer {
    const json = readJson(join(modelDir, 'tokenizer.json'), true)!;
    const config = readJson(join(modelDir, 'tokenizer_config.json'), false) ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (error) {
      throw new TokenizerError(`${join(modelDir, 'tokenizer.json')}: cannot build the tokenizer: ${(error as Error).message}`);
    }
    const eos = new Set(configEosIds);
    const eosToken = typeof config.eos_token === 'string' ? config.eos_token : (config.eos_token as { content?: string } | undefined)?.content;
    const eosId = eosToken === undefined ? undefined : tokenizer.token_to_id(eosToken);
    if (eosId !== undefined) eos.add(eosId);
    return new TextTokenizer(tokenizer, [...eos], tokenizer.get_vocab(true).size);
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}

function readJson(file: string, required: boolean): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TokenizerError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new TokenizerError(`${file}: not valid JSON`);
  }
}

/** GPT-2's reversible map from bytes to printable characters, used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : next++));
  return chars;
}

export const BYTE_TOKENIZER_SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>'];

/** A byte-level BPE tokenizer.json: vocabulary, merges, added tokens and pre-tokenizer. */
export function byteLevelBpeJson(model: { vocab: Record<string, number>; merges: string[]; added: { id: number; content: string; special: boolean }[]; preTokenizer?: Record<string, unknown> }): Record<string, unknown> {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: model.added.map(({ id, content, special }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special })),
    normalizer: null,
    pre_tokenizer: model.preTokenizer ? { type: 'Sequence', pretokenizers: [model.preTokenizer, byteLevel] } : byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: model.vocab, merges: model.merges },
  };
}

/** What tokenizer_config.json says of a tokenizer whose end token is `endOfText`. */
export function tokenizerConfig(endOfText: string): Record<string, unknown> {
  return { eos_token: endOfText, pad_token: endOfText, bos_token: null, add_bos_token: false, model_max_length: 32768, tokenizer_class: 'PreTrainedTokenizerFast' };
}

/**
 * A byte-level tokenizer with one token per byte and no merges: any text round-trips, and the
 * vocabulary (260 tokens) keeps random test models small.
 */
export function byteTokenizerFiles(): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  return {
    tokenizer: byteLevelBpeJson({
      vocab: Object.fromEntries(bytesToUnicode().map((c, i) => [c, i])),
      merges: [],
      added: BYTE_TOKENIZER_SPECIALS.map((content, i) => ({ id: 256 + i, content, special: true })),
    }),
    config: tokenizerConfig(BYTE_TOKENIZER_SPECIALS[0]),
  };
}
