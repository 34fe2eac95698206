// An edit episode, in the schema of shared/data/edits/README.md: recent edits as unified
// diffs, the code around the editable region, the region with the cursor in it, and the
// region as the user left it (the target). The vocabulary every part of the server speaks.

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

/** A chunk of another file the user has open or edited, carried in a prompt. */
export interface Snippet {
  path: string;
  text: string;
}

/** The prompt fields of an episode: what a model is shown, without the answer; serving adds other files' snippets. */
export type PromptContext = Omit<Episode, 'id' | 'target'> & { snippets?: Snippet[] };
