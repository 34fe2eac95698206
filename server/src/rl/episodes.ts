// Edit episodes in the schema of shared/data/edits/README.md, and the prompt a model answers
// for one: recent edits as unified diffs, the code around the editable region, the region with
// the cursor marked, and the instruction to rewrite the region.

import { readFileSync } from 'node:fs';

export interface Episode {
  id: string;
  source?: string;
  date?: string;
  language: string;
  path: string;
  history: string[];
  prefix: string;
  region: string;
  suffix: string;
  cursor: number;
  target: string;
}

export class EpisodeError extends Error {}

const REQUIRED_STRINGS = ['id', 'path', 'prefix', 'region', 'suffix', 'target'] as const;

export function parseEpisode(value: unknown, where: string): Episode {
  const e = value as Record<string, unknown>;
  if (!e || typeof e !== 'object') throw new EpisodeError(`${where}: an episode must be a JSON object`);
  for (const key of REQUIRED_STRINGS) {
    if (typeof e[key] !== 'string') throw new EpisodeError(`${where}: "${key}" must be a string`);
  }
  if (!Array.isArray(e.history) || !e.history.every((h) => typeof h === 'string')) throw new EpisodeError(`${where}: "history" must be an array of diffs`);
  const region = e.region as string;
  const cursor = e.cursor;
  if (!(Number.isInteger(cursor) && (cursor as number) >= 0 && (cursor as number) <= region.length)) {
    throw new EpisodeError(`${where}: "cursor" must be an offset inside the region (0..${region.length})`);
  }
  return { language: 'plaintext', ...e, cursor } as Episode;
}

/** Reads a JSONL file of episodes; a bad line is an error naming the file and the line. */
export function readEpisodes(file: string): Episode[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new EpisodeError(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const episodes: Episode[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new EpisodeError(`${file}:${i + 1}: not valid JSON`);
    }
    episodes.push(parseEpisode(value, `${file}:${i + 1}`));
  });
  if (episodes.length === 0) throw new EpisodeError(`${file}: no episodes`);
  return episodes;
}

// Markers in the style of Zed's Zeta edit-prediction prompt.
export const REGION_START = '<|editable_region_start|>';
export const REGION_END = '<|editable_region_end|>';
export const CURSOR = '<|user_cursor_is_here|>';

/** The prompt for an episode; the model answers with the rewritten region, then REGION_END. */
export function editPrompt(episode: Pick<Episode, 'history' | 'path' | 'prefix' | 'region' | 'suffix' | 'cursor'>): string {
  const history = episode.history.length ? episode.history.join('\n') : '(none)\n';
  const region = episode.region.slice(0, episode.cursor) + CURSOR + episode.region.slice(episode.cursor);
  return (
    `### Recent edits\n${history}\n` +
    `### File: ${episode.path}\n${episode.prefix}${REGION_START}\n${region}${REGION_END}\n${episode.suffix}\n` +
    `### Rewritten editable region\n${REGION_START}\n`
  );
}

/** How much context a prompt carries: the cost of a prompt grows with its length. */
export interface PromptLimits {
  /** Lines of code kept before and after the editable region. */
  contextLines: number;
  /** Most recent edits (unified diffs) kept. */
  historyDiffs: number;
}

export const defaultPromptLimits: PromptLimits = { contextLines: 40, historyDiffs: 6 };

/** The episode's context cut to the limits, keeping what is nearest the region. */
export function trimContext<T extends Pick<Episode, 'history' | 'prefix' | 'suffix'>>(episode: T, limits: PromptLimits): T {
  const prefixLines = episode.prefix.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const suffixLines = episode.suffix.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  return {
    ...episode,
    history: limits.historyDiffs > 0 ? episode.history.slice(-limits.historyDiffs) : [],
    prefix: prefixLines.slice(Math.max(0, prefixLines.length - limits.contextLines)).join(''),
    suffix: suffixLines.slice(0, limits.contextLines).join(''),
  };
}

/** What the model should write for an episode: the target region and the end marker. */
export function editCompletion(episode: Pick<Episode, 'target'>): string {
  return `${episode.target}${REGION_END}`;
}

/** A model's answer, cut at the end marker (a model may write past it). */
export function extractRegion(generated: string): string {
  const end = generated.indexOf(REGION_END);
  return end >= 0 ? generated.slice(0, end) : generated;
}

/** Shuffles a copy with a seeded Fisher–Yates. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
