// A simulated user typing each episode's edit through the language server, to measure the
// share of characters the assistant writes (what Copilot reports as "share of code written by
// the assistant"). The user follows a character diff from the region to the target: a
// deletion happens at once, an insertion is typed a character at a time. At each word
// boundary (the start of an insertion, or after a character that is not part of a word) the
// user asks for a suggestion and accepts it, as an editor does on Tab, when applying it leaves
// less to type and nothing more to delete; otherwise typing goes on over it.

import { diffChars } from 'diff';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Episode } from '../edits/episode';

/**
 * What the simulated user types into: the language server over LSP (LspSession, for `gapo
 * replay --typing` and the benchmarks) or the serving pipeline in process (PipelineEditor, for
 * the eval gate in the training thread, where no server runs).
 */
export interface TypingEditor<Item> {
  open(uri: string, text: string, languageId: string): Promise<void>;
  text(uri: string): string;
  /** Replaces [start, end) with `text`, as one keystroke's change. */
  edit(uri: string, start: number, end: number, text: string): Promise<void>;
  /** The suggestion shown with the cursor at `offset`, if any. */
  suggestion(uri: string, offset: number): Promise<Item | null>;
  textAfter(uri: string, item: Item): string;
  /** What an editor does on Tab. */
  accept(uri: string, item: Item): Promise<unknown>;
  save(uri: string): Promise<void>;
  close(uri: string): Promise<void>;
}

export interface TypingStats {
  episodes: number;
  /** Characters the edits insert. */
  charsTotal: number;
  /** Of those, the ones that came from accepted suggestions. */
  charsSaved: number;
  /**
   * White space (indentation, newlines) among the characters inserted and saved: this replay
   * types indentation by hand, where an editor would indent by itself.
   */
  whitespaceTotal: number;
  whitespaceSaved: number;
  /** Suggestion requests, and the ones that returned something to show. */
  requests: number;
  shown: number;
  accepted: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  /** Characters saved in each episode, in order (the eval gate compares two adapters episode by episode). */
  savedPerEpisode: number[];
}

export interface TypingOptions {
  /** Where the replayed files seem to live (file: URIs under it; nothing is written there). */
  root: string;
  onEpisode?: (index: number, total: number) => void;
  /**
   * At most this many suggestion requests per episode; the rest of the edit then arrives at
   * once, as a paste, and is not counted. The eval gate bounds its cost with it: a block of a
   * thousand characters would otherwise cost hundreds of generations. Default: no limit.
   */
  maxRequestsPerEpisode?: number;
}

/** What is left to do from `text` to `wanted`: characters to insert (white space among them) and to delete. */
export function remainingWork(text: string, wanted: string): { insert: number; insertWhitespace: number; delete: number } {
  const work = { insert: 0, insertWhitespace: 0, delete: 0 };
  for (const part of diffChars(text, wanted)) {
    if (part.added) {
      work.insert += part.value.length;
      work.insertWhitespace += part.value.length - part.value.replace(/\s/g, '').length;
    } else if (part.removed) work.delete += part.value.length;
  }
  return work;
}

/** The next thing the user does: delete a span, type one character, or nothing (done). */
export function nextKeystroke(text: string, wanted: string): { kind: 'delete'; start: number; end: number } | { kind: 'type'; at: number; char: string } | null {
  let at = 0;
  for (const part of diffChars(text, wanted)) {
    if (part.removed) return { kind: 'delete', start: at, end: at + part.value.length };
    if (part.added) return { kind: 'type', at, char: part.value[0] };
    at += part.value.length;
  }
  return null;
}

const WORD = /[\p{L}\p{N}_$]/u;

/** A word boundary: where a user pauses and an editor asks for a suggestion. */
export function atWordBoundary(text: string, at: number, startsRun: boolean): boolean {
  return startsRun || at === 0 || !WORD.test(text[at - 1]);
}

export async function replayTyping<Item>(session: TypingEditor<Item>, episodes: Episode[], options: TypingOptions): Promise<TypingStats> {
  const stats: TypingStats = { episodes: 0, charsTotal: 0, charsSaved: 0, whitespaceTotal: 0, whitespaceSaved: 0, requests: 0, shown: 0, accepted: 0, latencyP50Ms: 0, latencyP95Ms: 0, savedPerEpisode: [] };
  const latencies: number[] = [];
  for (const [index, episode] of episodes.entries()) {
    const uri = pathToFileURL(join(options.root, episode.path)).href;
    const wanted = episode.prefix + episode.target + episode.suffix;
    await session.open(uri, episode.prefix + episode.region + episode.suffix, episode.language);
    const work = remainingWork(session.text(uri), wanted);
    stats.charsTotal += work.insert;
    stats.whitespaceTotal += work.insertWhitespace;
    const savedBefore = stats.charsSaved;
    /** Where the last typed character went: the next one at the following offset continues its run. */
    let lastTyped = -2;
    let requests = 0;
    for (;;) {
      const text = session.text(uri);
      const step = nextKeystroke(text, wanted);
      if (!step) break;
      if (requests === options.maxRequestsPerEpisode) {
        const rest = remainingWork(text, wanted);
        stats.charsTotal -= rest.insert;
        stats.whitespaceTotal -= rest.insertWhitespace;
        await session.edit(uri, 0, text.length, wanted);
        break;
      }
      if (step.kind === 'delete') {
        await session.edit(uri, step.start, step.end, '');
        lastTyped = -2;
        continue;
      }
      if (atWordBoundary(text, step.at, step.at !== lastTyped + 1)) {
        const started = performance.now();
        const item = await session.suggestion(uri, step.at);
        latencies.push(performance.now() - started);
        stats.requests++;
        requests++;
        if (item) {
          stats.shown++;
          const before = remainingWork(text, wanted);
          const after = remainingWork(session.textAfter(uri, item), wanted);
          if (after.insert < before.insert && after.delete <= before.delete) {
            await session.accept(uri, item);
            stats.accepted++;
            stats.charsSaved += before.insert - after.insert;
            stats.whitespaceSaved += before.insertWhitespace - after.insertWhitespace;
            lastTyped = -2; // the cursor moved: the next character starts a new run
            continue;
          }
        }
      }
      await session.edit(uri, step.at, step.at, step.char);
      lastTyped = step.at;
    }
    await session.save(uri);
    await session.close(uri);
    stats.savedPerEpisode.push(stats.charsSaved - savedBefore);
    stats.episodes++;
    options.onEpisode?.(index + 1, episodes.length);
  }
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
  stats.latencyP50Ms = Math.round(quantile(0.5) * 10) / 10;
  stats.latencyP95Ms = Math.round(quantile(0.95) * 10) / 10;
  return stats;
}
