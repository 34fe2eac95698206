// How a model is asked for an edit, per model family. One episode, many formats: capture,
// rewards, the eval gate and export see only regions; a format turns an episode into a prompt,
// says what the model should answer, and turns an answer back into a rewritten region.
//
// - `edit`: the project's Zeta-style prompt (prompt.ts): the model rewrites the whole region.
// - `fim-psm`: fill-in-the-middle as Qwen2.5-Coder and StarCoder were trained on it,
//   prefix, then suffix, then the middle; the answer is inserted at the cursor.
// - `fim-spm`: the same, suffix first: the answer continues the prefix directly (easiest for a
//   small model), and while the user types only the prompt's tail changes, so the engine's
//   prefix cache keeps all but the last few tokens. The default model speaks this one.

import type { Episode, Snippet } from './episode';
import { editCompletion, editPrompt, extractRegion, REGION_START } from './prompt';
import { commonPrefixLength, commonSuffixLength } from './text';

export const PROMPT_FORMATS = ['edit', 'fim-psm', 'fim-spm'] as const;
export type PromptFormatName = (typeof PROMPT_FORMATS)[number];

/** The fields of an episode a prompt is made from (its context already cut to the limits). */
export type PromptFields = Pick<Episode, 'history' | 'path' | 'prefix' | 'region' | 'suffix' | 'cursor'> & { snippets?: Snippet[] };

export interface PromptFormat {
  readonly name: PromptFormatName;
  /** The fill-in-the-middle tokens (FIM formats only). */
  readonly tokens?: FimTokens;
  prompt(episode: PromptFields): string;
  /** Strings that end an answer; the model's end-of-text token ends it too. */
  readonly stop: string[];
  /**
   * Whether a generation that ended for `finishReason` (the engine's) is an answer. A rewrite
   * must be closed by its end marker (a cut-off one would delete the rest of the region); an
   * insertion cut off by the token limit or the confidence gate still gives the user its start.
   */
  usable(finishReason: string): boolean;
  /**
   * The confidence gate unless the user sets one: an insertion can stop where the model is
   * unsure, but a rewrite cut by the gate would show nothing at all, so none for it.
   */
  readonly defaultMinProbability: number;
  /** What the model should write for an episode, or null when the format cannot express its edit. */
  completion(episode: Pick<Episode, 'region' | 'cursor' | 'target'>): string | null;
  /** The region as an answer (generated text, cut at a stop or not) rewrites it. */
  rewrite(episode: Pick<Episode, 'region' | 'cursor'>, answer: string): string;
}

/** The special tokens of a fill-in-the-middle vocabulary. */
export interface FimTokens {
  prefix: string;
  suffix: string;
  middle: string;
  /** Separates files in a repository-level prompt (Qwen2.5-Coder, StarCoder2); recent edits go in one. */
  fileSeparator?: string;
  /** Written after the middle. */
  end: string;
}

export const QWEN_FIM_TOKENS: FimTokens = { prefix: '<|fim_prefix|>', suffix: '<|fim_suffix|>', middle: '<|fim_middle|>', fileSeparator: '<|file_sep|>', end: '<|endoftext|>' };
export const STARCODER_FIM_TOKENS: FimTokens = { prefix: '<fim_prefix>', suffix: '<fim_suffix>', middle: '<fim_middle>', fileSeparator: '<file_sep>', end: '<|endoftext|>' };

export const editFormat: PromptFormat = {
  name: 'edit',
  prompt: editPrompt,
  stop: [editCompletion({ target: '' })],
  usable: (finishReason) => finishReason === 'stop',
  defaultMinProbability: 0,
  completion: editCompletion,
  rewrite: (_episode, answer) => extractRegion(answer),
};

/** The insertion at the cursor that turns `region` into `target`, or null when the edit is not one. */
export function insertionAtCursor(episode: Pick<Episode, 'region' | 'cursor' | 'target'>): string | null {
  const { region, cursor, target } = episode;
  const before = region.slice(0, cursor);
  const after = region.slice(cursor);
  if (target.length < region.length || !target.startsWith(before) || !target.endsWith(after)) return null;
  return target.slice(cursor, target.length - after.length);
}

/**
 * The episode as the user types it: what the edit removes is deleted first, and the cursor
 * stands where the new text goes (so every edit becomes an insertion at the cursor).
 */
export function asTyping<T extends Pick<Episode, 'region' | 'cursor' | 'target'>>(episode: T): T {
  const { region, target } = episode;
  const head = commonPrefixLength(region, target);
  const tail = commonSuffixLength(region, target, Math.min(region.length, target.length) - head);
  return { ...episode, region: region.slice(0, head) + region.slice(region.length - tail), cursor: head };
}

/**
 * The part of an insertion worth showing:
 * - without what already follows the cursor on its line (its newline included): a model that
 *   writes the rest of the line, `fs');` before an existing `');`, means only `fs`, and one
 *   that writes `++) {` and goes on to the next line before an existing `) {` means `++`;
 * - at the start of a line that has text, only whole lines: text that stops mid-line there (the
 *   model was sure the new line begins "import ", or with its indentation, but not how it goes
 *   on) would be glued to the front of the existing line.
 */
export function worthInserting(episode: Pick<Episode, 'region' | 'cursor'>, insertion: string): string {
  const { region, cursor } = episode;
  const lineEnd = region.indexOf('\n', cursor);
  const restOfLine = region.slice(cursor, lineEnd < 0 ? region.length : lineEnd);
  const atLineStart = cursor === 0 || region[cursor - 1] === '\n';
  if (atLineStart && restOfLine.trim() !== '') return insertion.slice(0, insertion.lastIndexOf('\n') + 1);
  const following = region.slice(cursor, lineEnd < 0 ? region.length : lineEnd + 1);
  // The model wrote the rest of the line, newline and all, and went on: keep what came before it.
  const rewritten = restOfLine.trim() !== '' && following.endsWith('\n') ? insertion.indexOf(following) : -1;
  if (rewritten >= 0) return insertion.slice(0, rewritten);
  for (let overlap = Math.min(following.length, insertion.length); overlap > 0; overlap--) {
    if (insertion.endsWith(following.slice(0, overlap))) return insertion.slice(0, insertion.length - overlap);
  }
  return insertion;
}

/** The gate of insertions, tuned on held-out training episodes (models/default/README.md). */
export const FIM_MIN_PROBABILITY = 0.2;

export function fimFormat(name: 'fim-psm' | 'fim-spm', tokens: FimTokens): PromptFormat {
  const stop = [tokens.end, tokens.prefix, tokens.suffix, tokens.middle, ...(tokens.fileSeparator ? [tokens.fileSeparator] : [])];
  return {
    name,
    tokens,
    prompt(episode) {
      const before = episode.prefix + episode.region.slice(0, episode.cursor);
      const after = episode.region.slice(episode.cursor) + episode.suffix;
      // Recent edits as a file of diffs ahead of the file being edited, as a repository-level
      // prompt carries other files; the history changes rarely, so it stays in the prefix cache.
      const separator = tokens.fileSeparator;
      const history = separator && episode.history.length ? `${separator}recent edits\n${episode.history.join('\n')}\n` : '';
      // Other files' chunks first, as a repository-level prompt orders files: the least related farthest from the cursor.
      const others = separator ? (episode.snippets ?? []).map((s) => `${separator}${s.path}\n${s.text}${s.text.endsWith('\n') ? '' : '\n'}`).reverse().join('') : '';
      const file = separator ? `${separator}${episode.path}\n` : '';
      return name === 'fim-psm'
        ? `${others}${history}${file}${tokens.prefix}${before}${tokens.suffix}${after}${tokens.middle}`
        : `${others}${history}${file}${tokens.suffix}${after}${tokens.prefix}${before}`;
    },
    stop,
    usable: (finishReason) => finishReason !== 'cancelled',
    defaultMinProbability: FIM_MIN_PROBABILITY,
    completion(episode) {
      const middle = insertionAtCursor(episode);
      return middle === null ? null : `${middle}${tokens.end}`;
    },
    rewrite(episode, answer) {
      const end = Math.min(...stop.map((s) => answer.indexOf(s)).filter((at) => at >= 0), answer.length);
      return episode.region.slice(0, episode.cursor) + worthInserting(episode, answer.slice(0, end)) + episode.region.slice(episode.cursor);
    },
  };
}

/**
 * The format a model speaks: the one its config declares (`gapo_prompt_format`, written by the
 * project's tools), else fill-in-the-middle when its vocabulary has FIM tokens and no edit
 * markers, else the edit format. `hasToken` asks the model's tokenizer.
 */
export function promptFormatFor(declared: string | undefined, hasToken: (token: string) => boolean): PromptFormat {
  if (declared !== undefined) return promptFormatNamed(declared, hasToken);
  if (!hasToken(REGION_START) && fimTokensOf(hasToken)) return promptFormatNamed('fim-psm', hasToken);
  return editFormat;
}

/** What names a format completely (it crosses the engine worker's message channel). */
export type PromptFormatSpec = Pick<PromptFormat, 'name' | 'tokens'>;

export function formatOf(spec: PromptFormatSpec): PromptFormat {
  if (spec.name === 'edit') return editFormat;
  if (!spec.tokens) throw new PromptFormatError(`prompt format ${spec.name} needs its fill-in-the-middle tokens`);
  return fimFormat(spec.name, spec.tokens);
}

export class PromptFormatError extends Error {}

/** A format by name, with the FIM tokens the vocabulary has. */
export function promptFormatNamed(name: string, hasToken: (token: string) => boolean): PromptFormat {
  if (name === 'edit') return editFormat;
  if (name !== 'fim-psm' && name !== 'fim-spm') throw new PromptFormatError(`unknown prompt format ${JSON.stringify(name)} (known: ${PROMPT_FORMATS.join(', ')})`);
  const tokens = fimTokensOf(hasToken);
  if (!tokens) throw new PromptFormatError(`prompt format ${name} needs fill-in-the-middle tokens (${QWEN_FIM_TOKENS.prefix} or ${STARCODER_FIM_TOKENS.prefix}), and the tokenizer has none`);
  return fimFormat(name, tokens);
}

/** The FIM tokens a vocabulary has (Qwen's or StarCoder's), without a file separator it lacks; null: none. */
function fimTokensOf(hasToken: (token: string) => boolean): FimTokens | null {
  const tokens = [QWEN_FIM_TOKENS, STARCODER_FIM_TOKENS].find((t) => [t.prefix, t.suffix, t.middle, t.end].every(hasToken));
  if (!tokens) return null;
  return { ...tokens, fileSeparator: tokens.fileSeparator && hasToken(tokens.fileSeparator) ? tokens.fileSeparator : undefined };
}
