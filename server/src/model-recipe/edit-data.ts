// Edit tuning data: the real training episodes in a prompt format, mixed with episodes made
// from corpus files that teach what an editor asks for most:
// - finish the line being typed: the region with its cursor line cut at a random point;
// - carry a recent edit further: a rename in the history, the remaining occurrences in the region;
// - fill a span: the rest of a line and up to two more lines, as when typing new lines
//   (fill-in-the-middle formats, whose answers are insertions);
// - fill inside a line: words typed before text that stays (an argument, a name's middle), so
//   the model learns to stop where the line goes on rather than write the rest of it again;
// - leave alone: regions where nothing should change, so the model learns to propose nothing.
// For a fill-in-the-middle format a real episode is shown as the user types it (prompt-format's
// asTyping), part way through its new text. Example k is a pure function of (seed, k), so a
// step's batch never depends on what came before.

import { unifiedDiff } from '../capture/edit-episodes';
import type { Episode } from '../edits/episode';
import { trimContext } from '../edits/prompt';
import { asTyping, insertionAtCursor, type PromptFormat } from '../edits/prompt-format';
import { seededRandom, splitLines } from '../edits/text';
import type { TextTokenizer } from '../model/tokenizer';
import type { TrainingSequence } from '../trainer/trainer';
import type { CorpusFile } from './corpus';
import type { TrainingData } from './cross-entropy-run';
import type { PromptLimits } from '../protocol';

export type ExampleKind = 'episode' | 'finish-line' | 'rename' | 'span' | 'mid-line' | 'unchanged';

/** Shares of each kind in the mix (they need not add up to one), for the edit format and for fill-in-the-middle. */
export const editMix: Record<ExampleKind, number> = { episode: 0.4, 'finish-line': 0.3, rename: 0.15, span: 0, 'mid-line': 0, unchanged: 0.15 };
export const fimMix: Record<ExampleKind, number> = { episode: 0.35, 'finish-line': 0.3, rename: 0, span: 0.2, 'mid-line': 0, unchanged: 0.15 };
export const EXAMPLE_KINDS = Object.keys(fimMix) as ExampleKind[];

/**
 * A mix written `kind=share,...` (the kinds left out get no share), as `gapo sft --mix` takes it.
 * A kind a format cannot say (a rename for fill-in-the-middle) is dropped by editSequence.
 */
export function parseMix(text: string): Record<ExampleKind, number> {
  const mix = Object.fromEntries(EXAMPLE_KINDS.map((kind) => [kind, 0])) as Record<ExampleKind, number>;
  for (const part of text.split(',')) {
    const [kind, share] = part.split('=');
    if (!EXAMPLE_KINDS.includes(kind as ExampleKind)) throw new Error(`unknown example kind ${JSON.stringify(kind)} in the mix (known: ${EXAMPLE_KINDS.join(', ')})`);
    const value = Number(share);
    if (share === undefined || share.trim() === '' || !(value >= 0)) throw new Error(`the share of ${kind} must be a number of at least 0, got ${JSON.stringify(share ?? '')}`);
    mix[kind as ExampleKind] = value;
  }
  if (EXAMPLE_KINDS.every((kind) => mix[kind] === 0)) throw new Error('the mix gives no kind a share');
  return mix;
}

export function mixFor(format: PromptFormat): Record<ExampleKind, number> {
  return format.name === 'edit' ? editMix : fimMix;
}

/** Lines on each side of the cursor line in the editable region, as the language server cuts it. */
const REGION_RADIUS = 2;
/** Lines of file kept around the region before the prompt limits cut them. */
const EXCERPT = 40;

type Random = () => number;
const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)];
const between = (low: number, high: number, random: Random) => low + Math.floor(random() * (high - low + 1));

/** An episode whose region is lines [first, end) of `lines`, with up to EXCERPT lines of file on each side. */
function around(file: CorpusFile, lines: string[], [first, end]: [number, number], region: string, cursor: number, target: string, history: string[]): Episode {
  return {
    id: '',
    language: 'plaintext',
    path: file.path,
    history,
    prefix: lines.slice(Math.max(0, first - EXCERPT), first).join(''),
    region,
    suffix: lines.slice(end, end + EXCERPT).join(''),
    cursor,
    target,
  };
}

/** The region's lines around line i as the language server cuts it: i ± 2. */
function regionLines(lines: string[], i: number, last = i): [number, number] {
  return [Math.max(0, i - REGION_RADIUS), Math.min(lines.length, last + REGION_RADIUS + 1)];
}

function codeLines(file: CorpusFile): string[] {
  const lines = splitLines(file.text);
  if (lines.length && !lines[lines.length - 1].endsWith('\n')) lines[lines.length - 1] += '\n';
  return lines;
}

/** A line without its newline, its indentation's width, and the word boundaries inside its text (past the indentation, before its end). */
function lineText(withNewline: string): { line: string; indent: number; boundaries: number[] } {
  const line = withNewline.slice(0, -1);
  const indent = line.length - line.trimStart().length;
  const boundaries = [...line.matchAll(/\b/g)].map((m) => m.index!).filter((at) => at > indent && at < line.length);
  return { line, indent, boundaries };
}

/** The user is typing line i: it holds only its start (maybe only indentation); the rest of the file is there. */
export function finishLineExample(file: CorpusFile, random: Random): Episode | null {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = Math.floor(random() * lines.length);
    const { line, indent, boundaries } = lineText(lines[i]);
    if (line.trim().length < 6) continue;
    // Cut at a word boundary (where editors ask) about half the time, anywhere in the text
    // otherwise, and now and then in the indentation: the user just pressed Enter.
    const mode = random();
    const cut = mode < 0.2 ? between(0, indent, random) : boundaries.length && mode < 0.65 ? pick(boundaries, random) : between(indent + 1, line.length - 1, random);
    const [first, end] = regionLines(lines, i);
    const target = lines.slice(first, end).join('');
    const before = lines.slice(first, i).join('');
    const region = before + line.slice(0, cut) + '\n' + lines.slice(i + 1, end).join('');
    return around(file, lines, [first, end], region, before.length + cut, target, []);
  }
  return null;
}

const IDENTIFIER = /\b[A-Za-z_][A-Za-z0-9_]{2,}\b/g;
const KEYWORDS = new Set('const let var function return class import export from this self def elif else if for while with async await new typeof null true false None True False none not and or in is pass yield lambda try catch finally except raise throw'.split(' '));

/** A new name for `name`, as people rename: a suffix, a prefix, or a sibling word. */
function renamed(name: string, random: Random): string {
  const words = ['value', 'item', 'result', 'count', 'options', 'config', 'data', 'list', 'entry', 'node', 'key', 'index', 'name', 'path', 'text'];
  const word = pick(words, random);
  const capital = word[0].toUpperCase() + word.slice(1);
  const snake = name.includes('_') || name === name.toLowerCase();
  switch (between(0, 2, random)) {
    case 0:
      return snake ? `${name}_${word}` : `${name}${capital}`;
    case 1:
      return snake ? `${word}_${name}` : `${word}${name[0].toUpperCase()}${name.slice(1)}`;
    default:
      return word === name ? `${word}s` : word;
  }
}

/**
 * The user renamed one occurrence of an identifier above the region (it is in the history);
 * the region still has the old name, and the target renames it there too.
 */
export function renameExample(file: CorpusFile, random: Random): Episode | null {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = between(3, Math.max(3, lines.length - 3), random);
    if (i >= lines.length) return null;
    const [first, end] = regionLines(lines, i);
    const region = lines.slice(first, end).join('');
    const names = [...new Set([...region.matchAll(IDENTIFIER)].map((m) => m[0]))].filter((n) => !KEYWORDS.has(n));
    if (names.length === 0) continue;
    const name = pick(names, random);
    const word = new RegExp(`\\b${name}\\b`, 'g');
    // The edited occurrence: the nearest line above the region that has the name.
    const has = new RegExp(`\\b${name}\\b`);
    let edited = first - 1;
    while (edited >= Math.max(0, first - 20) && !has.test(lines[edited])) edited--;
    if (edited < Math.max(0, first - 20)) continue;
    const next = renamed(name, random);
    const before = lines.join('');
    const after = [...lines.slice(0, edited), lines[edited].replace(word, next), ...lines.slice(edited + 1)];
    const history = [unifiedDiff(file.path, before, after.join(''))];
    const target = region.replace(word, next);
    return around(file, after, [first, end], region, between(0, region.length, random), target, history);
  }
  return null;
}

/** The user is typing new text from a point in line i to the end of that line and up to two more. */
export function spanExample(file: CorpusFile, random: Random): Episode | null {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = Math.floor(random() * lines.length);
    const last = Math.min(lines.length - 1, i + pick([0, 0, 1, 2], random));
    const line = lines[i];
    const indent = line.length - line.trimStart().length;
    if (lines.slice(i, last + 1).join('').trim().length < 4) continue;
    const boundaries = [...line.matchAll(/\b/g)].map((m) => m.index!).filter((at) => at < line.length - 1);
    const start = random() < 0.3 ? between(0, indent, random) : boundaries.length && random() < 0.6 ? pick(boundaries, random) : between(0, line.length - 1, random);
    const [first, end] = regionLines(lines, i, last);
    const before = lines.slice(first, i).join('') + line.slice(0, start);
    const region = before + lines.slice(last + 1, end).join('');
    return around(file, lines, [first, end], region, before.length, lines.slice(first, end).join(''), []);
  }
  return null;
}

/**
 * The user is typing inside line i: a few words from a word boundary to a later one, and the
 * rest of the line (at least a character of it) already there after the cursor.
 */
export function midLineExample(file: CorpusFile, random: Random): Episode | null {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = Math.floor(random() * lines.length);
    const { line, boundaries } = lineText(lines[i]);
    if (boundaries.length < 2) continue;
    const from = between(0, boundaries.length - 2, random);
    // One to four boundaries on: a word, or a few words and the punctuation between them.
    const to = Math.min(boundaries.length - 1, from + between(1, 4, random));
    const [start, stop] = [boundaries[from], boundaries[to]];
    if (!line.slice(start, stop).trim()) continue;
    const [first, end] = regionLines(lines, i);
    const before = lines.slice(first, i).join('') + line.slice(0, start);
    const region = before + line.slice(stop) + '\n' + lines.slice(i + 1, end).join('');
    return around(file, lines, [first, end], region, before.length, lines.slice(first, end).join(''), []);
  }
  return null;
}

/**
 * A real episode as the user types it: what it removes already deleted, and (most of the
 * time) the first part of its new text already typed, up to a word boundary.
 */
export function typedEpisode(episode: Episode, random: Random): Episode {
  const typing = asTyping(episode);
  const inserted = insertionAtCursor(typing) ?? '';
  const boundaries = [...inserted.matchAll(/\W/g)].map((m) => m.index! + 1).filter((at) => at < inserted.length);
  const typed = random() < 0.35 || boundaries.length === 0 ? 0 : pick(boundaries, random);
  const region = typing.region.slice(0, typing.cursor) + inserted.slice(0, typed) + typing.region.slice(typing.cursor);
  return { ...typing, region, cursor: typing.cursor + typed };
}

/** A region where nothing should change: the answer is the region as it is. */
export function unchangedExample(file: CorpusFile, random: Random): Episode | null {
  const lines = codeLines(file);
  if (lines.length < 3) return null;
  const i = Math.floor(random() * lines.length);
  const [first, end] = regionLines(lines, i);
  const region = lines.slice(first, end).join('');
  if (!region.trim()) return null;
  // The cursor at a line's end, where a user pauses after finishing it.
  const ends = [...region.matchAll(/\n/g)].map((m) => m.index!);
  return around(file, lines, [first, end], region, pick(ends, random), region, []);
}

export interface EditDataOptions {
  batchSize: number;
  seed: number;
  format: PromptFormat;
  mix: Record<ExampleKind, number>;
  /** The prompt limits are drawn per example in these ranges, so the model reads any of them. */
  contextLines: [number, number];
  historyDiffs: [number, number];
  maxPromptTokens: number;
  maxCompletionTokens: number;
  heldOutSequences: number;
}

export const defaultEditDataOptions: Omit<EditDataOptions, 'batchSize' | 'seed' | 'format' | 'mix'> = {
  contextLines: [4, 16],
  historyDiffs: [0, 3],
  maxPromptTokens: 640,
  maxCompletionTokens: 192,
  heldOutSequences: 32,
};

/** Prompt and answer tokens of an episode, or null when the format cannot say its answer or it is too long to learn whole. */
export function editSequence(episode: Episode, limits: PromptLimits, tokenizer: TextTokenizer, options: Pick<EditDataOptions, 'format' | 'maxPromptTokens' | 'maxCompletionTokens'>): TrainingSequence | null {
  const answer = options.format.completion(episode);
  if (answer === null) return null;
  const completion = tokenizer.encode(answer);
  if (completion.length > options.maxCompletionTokens) return null;
  let prompt = tokenizer.encode(options.format.prompt(trimContext(episode, limits)));
  // Cut from the start, as the engine does: the region and the cursor are at the end.
  if (prompt.length > options.maxPromptTokens) prompt = prompt.slice(prompt.length - options.maxPromptTokens);
  return { ids: [...prompt, ...completion], promptLength: prompt.length };
}

export function editTuningData(episodes: Episode[], files: CorpusFile[], heldOut: { episodes: Episode[]; files: CorpusFile[] }, tokenizer: TextTokenizer, options: EditDataOptions): TrainingData & { example(k: number): { kind: ExampleKind; episode: Episode } } {
  const kinds = Object.keys(options.mix) as ExampleKind[];
  const total = kinds.reduce((sum, k) => sum + options.mix[k], 0);
  const make = (k: number, source: { episodes: Episode[]; files: CorpusFile[] }, seed: number): { kind: ExampleKind; episode: Episode } => {
    const random = seededRandom(seed * 2654435761 + k);
    for (;;) {
      let r = random() * total;
      const kind = kinds.find((kind) => (r -= options.mix[kind]) < 0) ?? kinds[kinds.length - 1];
      let episode: Episode | null = null;
      if (kind === 'episode') {
        episode = source.episodes.length ? pick(source.episodes, random) : null;
        if (episode && options.format.name !== 'edit') episode = typedEpisode(episode, random);
      } else {
        const file = pick(source.files, random);
        const makers = { 'finish-line': finishLineExample, rename: renameExample, span: spanExample, 'mid-line': midLineExample, unchanged: unchangedExample };
        episode = makers[kind](file, random);
      }
      if (episode) return { kind, episode };
    }
  };
  const sequence = (k: number, source: { episodes: Episode[]; files: CorpusFile[] }, seed: number): TrainingSequence => {
    for (let attempt = 0; ; attempt++) {
      const random = seededRandom(seed * 7919 + k * 31 + attempt);
      const { episode } = make(k * 64 + attempt, source, seed);
      const limits = { contextLines: between(...options.contextLines, random), historyDiffs: between(...options.historyDiffs, random) };
      const s = editSequence(episode, limits, tokenizer, options);
      if (s) return s;
    }
  };
  return {
    // The first draw of sequence k (a draw whose answer is too long is redrawn).
    example: (k) => make(k * 64, { episodes, files }, options.seed),
    batch: (step) => Array.from({ length: options.batchSize }, (_, i) => sequence(step * options.batchSize + i, { episodes, files }, options.seed)),
    heldOut: Array.from({ length: options.heldOutSequences }, (_, i) => sequence(i, heldOut, options.seed + 1)),
  };
}
