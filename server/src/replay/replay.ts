// A simulated user: for each episode, open the file, ask for a suggestion at the cursor,
// accept it when it writes what the user meant (typing over it otherwise; a noise rate P
// flips that choice, as real users are noisy), type the rest of the edit, save. The server
// sees nothing but LSP, exactly as from an editor.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LspSession } from './lsp-session';
import { commonPrefixLength, commonSuffixLength, seededRandom } from '../edits/text';
import type { Episode } from '../edits/episode';

export interface ReplayOptions {
  /** Share of accept/type-over choices flipped at random. */
  noise: number;
  seed: number;
  /** Characters per didChange while typing. */
  typingChunk: number;
  /** Where the replayed files seem to live (file: URIs under it; nothing is written there). */
  root: string;
  onEpisode?: (index: number, total: number) => void;
}

export interface ReplayStats {
  episodes: number;
  suggestions: number;
  accepted: number;
  /** Suggestions the simulated user did not accept (and then typed the edit by hand). */
  declined: number;
  /** Suggestions that wrote exactly the user's edit. */
  exact: number;
  changes: number;
}

export async function replayEpisodes(session: LspSession, episodes: Episode[], options: ReplayOptions): Promise<ReplayStats> {
  const random = seededRandom(options.seed);
  const stats: ReplayStats = { episodes: 0, suggestions: 0, accepted: 0, declined: 0, exact: 0, changes: 0 };
  for (const [index, episode] of episodes.entries()) {
    const uri = pathToFileURL(join(options.root, episode.path)).href;
    const start = episode.prefix.length;
    const text = episode.prefix + episode.region + episode.suffix;
    const wanted = episode.prefix + episode.target + episode.suffix;
    await session.open(uri, text, episode.language);
    const [item] = await session.inlineCompletion(uri, start + episode.cursor);
    if (item) {
      stats.suggestions++;
      const right = session.textAfter(uri, item) === wanted;
      if (right) stats.exact++;
      const accept = random() < options.noise ? !right : right;
      if (accept) {
        await session.accept(uri, item);
        stats.accepted++;
      } else stats.declined++;
    }
    stats.changes += await typeTowards(session, uri, wanted, options.typingChunk);
    await session.save(uri);
    await session.close(uri);
    stats.episodes++;
    options.onEpisode?.(index + 1, episodes.length);
  }
  return stats;
}

/** Edits the document into `wanted`: one deletion of what differs, then typing the rest. */
async function typeTowards(session: LspSession, uri: string, wanted: string, chunk: number): Promise<number> {
  const text = session.text(uri);
  if (text === wanted) return 0;
  const head = commonPrefixLength(text, wanted);
  const tail = commonSuffixLength(text, wanted, Math.min(text.length, wanted.length) - head);
  let changes = 0;
  if (text.length - tail > head) {
    await session.edit(uri, head, text.length - tail, '');
    changes++;
  }
  const typed = wanted.slice(head, wanted.length - tail);
  await session.type(uri, head, typed, chunk);
  return changes + Math.ceil(typed.length / chunk);
}
