// A byte-level BPE trainer (no npm library trains one), writing a standard tokenizer.json that
// @huggingface/tokenizers loads. Text is first split by the pre-tokenizer's pattern (words
// with their leading space or punctuation, digits one by one, runs of spaces, newlines with
// the indentation before them), then the most frequent adjacent pair of symbols is merged
// until the vocabulary is full. Ties go to the pair whose symbols were made first, so the
// result does not depend on the order of the text.

import { CURSOR, REGION_END, REGION_START } from '../edits/prompt';
import { BYTE_TOKENIZER_SPECIALS, byteLevelBpeJson, bytesToUnicode, tokenizerConfig } from '../model/tokenizer';

/**
 * Qwen2's pattern without its case-insensitive English contractions (code has few, and
 * JavaScript's regular expressions have no inline (?i:) group in Node 20).
 */
export const PRE_TOKENIZER_PATTERN = String.raw`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

export const END_OF_TEXT = BYTE_TOKENIZER_SPECIALS[0];
/** Control tokens: never produced by text, dropped when decoding (the byte tokenizer's, and a file separator). */
export const SPECIAL_TOKENS = [...BYTE_TOKENIZER_SPECIALS, '<|file_sep|>'];
/** The prompt markers: one token each, kept when decoding (generation stops on REGION_END). */
export const MARKER_TOKENS = [REGION_START, REGION_END, CURSOR];

export interface BpeModel {
  /** Token strings in the byte-level alphabet, by id: 256 bytes, then one per merge. */
  tokens: string[];
  /** Each merge as the ids of its two parts; merge i made token 256 + i. */
  merges: [number, number][];
}

/** Counts of the pre-tokenized words of some texts. */
export function countWords(texts: Iterable<string>): Map<string, number> {
  const pattern = new RegExp(PRE_TOKENIZER_PATTERN, 'gu');
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const match of text.matchAll(pattern)) counts.set(match[0], (counts.get(match[0]) ?? 0) + 1);
  }
  return counts;
}

/** A max-heap of [count, pair] with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  private readonly items: { count: number; pair: number }[] = [];

  push(count: number, pair: number): void {
    const items = this.items;
    items.push({ count, pair });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): { count: number; pair: number } | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let best = i;
        if (left < items.length && this.before(items[left], items[best])) best = left;
        if (right < items.length && this.before(items[right], items[best])) best = right;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }

  private before(a: { count: number; pair: number }, b: { count: number; pair: number }): boolean {
    return a.count > b.count || (a.count === b.count && a.pair < b.pair);
  }
}

const PAIR = 1 << 16;
const pairKey = (a: number, b: number) => a * PAIR + b;

/**
 * Learns `mergeCount` merges (fewer if the words run out of pairs seen at least `minCount` times).
 * `onProgress` hears the number of merges made so far.
 */
export function trainBpe(wordCounts: Map<string, number>, mergeCount: number, minCount = 2, onProgress?: (merges: number) => void): BpeModel {
  const alphabet = bytesToUnicode();
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [word, count] of wordCounts) {
    const bytes = [...encoder.encode(word)];
    if (bytes.length < 2) continue;
    words.push(bytes);
    freqs.push(count);
  }
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const add = (key: number, w: number, count: number) => {
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
    let set = pairWords.get(key);
    if (!set) pairWords.set(key, (set = new Set()));
    set.add(w);
  };
  words.forEach((symbols, w) => {
    for (let i = 0; i + 1 < symbols.length; i++) add(pairKey(symbols[i], symbols[i + 1]), w, freqs[w]);
  });
  const heap = new PairHeap();
  for (const [key, count] of pairCounts) heap.push(count, key);

  const tokens = [...alphabet];
  const merges: [number, number][] = [];
  const touched = new Set<number>();
  while (merges.length < mergeCount) {
    const top = heap.pop();
    if (!top || top.count < minCount) break;
    if (pairCounts.get(top.pair) !== top.count) continue; // stale
    const a = Math.floor(top.pair / PAIR);
    const b = top.pair % PAIR;
    const made = tokens.length;
    tokens.push(tokens[a] + tokens[b]);
    merges.push([a, b]);
    touched.clear();
    for (const w of pairWords.get(top.pair) ?? []) {
      const symbols = words[w];
      const count = freqs[w];
      // Take the word's pairs out, merge, put them back: simple, and words are short.
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = pairKey(symbols[i], symbols[i + 1]);
        pairCounts.set(key, pairCounts.get(key)! - count);
        touched.add(key);
      }
      const merged: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          merged.push(made);
          i++;
        } else merged.push(symbols[i]);
      }
      words[w] = merged;
      for (let i = 0; i + 1 < merged.length; i++) {
        const key = pairKey(merged[i], merged[i + 1]);
        add(key, w, count);
        touched.add(key);
      }
    }
    pairWords.delete(top.pair);
    pairCounts.delete(top.pair);
    for (const key of touched) {
      const count = pairCounts.get(key);
      if (count === undefined) continue;
      if (count <= 0) {
        pairCounts.delete(key);
        pairWords.delete(key);
      } else heap.push(count, key);
    }
    if (onProgress && merges.length % 500 === 0) onProgress(merges.length);
  }
  return { tokens, merges };
}

/** The tokenizer.json and tokenizer_config.json of a trained model. */
export function tokenizerFiles(model: BpeModel): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const added = [...SPECIAL_TOKENS.map((content) => ({ content, special: true })), ...MARKER_TOKENS.map((content) => ({ content, special: false }))];
  return {
    tokenizer: byteLevelBpeJson({
      vocab: Object.fromEntries(model.tokens.map((token, id) => [token, id])),
      merges: model.merges.map(([a, b]) => `${model.tokens[a]} ${model.tokens[b]}`),
      added: added.map((token, i) => ({ id: model.tokens.length + i, ...token })),
      preTokenizer: { type: 'Split', pattern: { Regex: PRE_TOKENIZER_PATTERN }, behavior: 'Isolated', invert: false },
    }),
    config: tokenizerConfig(END_OF_TEXT),
  };
}

/** The vocabulary size of a tokenizer with `merges` merges: bytes, merges, added tokens. */
export function vocabularySize(merges: number): number {
  return 256 + merges + SPECIAL_TOKENS.length + MARKER_TOKENS.length;
}
