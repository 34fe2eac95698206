// The prompt a model answers for an episode, in the style of Zed's Zeta edit prediction:
// recent edits, the file with the editable region marked and the cursor in it, and the
// instruction to rewrite the region; the answer ends with the end marker.

import type { PromptLimits } from '../protocol';
import type { Episode, Snippet } from './episode';
import { splitLines } from './text';

// The markers.
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
/** Short prompts answer fast on a CPU; the default model was tuned on 4–16 lines and 0–3 diffs. */
export const defaultPromptLimits: PromptLimits = { contextLines: 12, historyDiffs: 3, snippets: 0 };

/** The episode's context cut to the limits, keeping what is nearest the region. */
export function trimContext<T extends Pick<Episode, 'history' | 'prefix' | 'suffix'> & { snippets?: Snippet[] }>(episode: T, limits: PromptLimits): T {
  const prefixLines = splitLines(episode.prefix);
  const suffixLines = splitLines(episode.suffix);
  return {
    ...episode,
    ...(episode.snippets ? { snippets: episode.snippets.slice(0, limits.snippets ?? 0) } : {}),
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
