// "Learn from Repository History": a folder's recent commits become stored episodes, through
// the same privacy rules as typing (excluded paths, secrets redacted, the text limits of an
// open document). The language server's request runs it between answers to the editor.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PrivacyFilter } from '../capture/privacy';
import { redactSecrets } from '../edits/redaction';
import type { Store } from '../store/store';
import { commitEpisodes } from './git-episodes';

export interface HistoryImport {
  episodes: number;
  /** Commits read. */
  commits: number;
  /** Episodes left out by the text limits (size, binary, generated). */
  skipped: number;
}

export interface ImportProgress {
  /** Stops the import after the commit in hand. */
  cancelled(): boolean;
  /** After each commit; the caller may yield to other work here. */
  afterCommit(index: number, total: number, episodes: number): Promise<void>;
}

/** Stores the episodes of `folder`'s last `limit` commits; a GitError when it is no repository. */
export async function importHistory(folder: string, limit: number, store: Store, privacy: PrivacyFilter, progress: ImportProgress): Promise<HistoryImport> {
  // Files the user could not type into (excluded, the server's own data) teach nothing either.
  const filter = { includes: (path: string) => !privacy.excludedPath(join(folder, path)), redact: (text: string, path: string) => redactSecrets(text, path) };
  const result: HistoryImport = { episodes: 0, commits: 0, skipped: 0 };
  for (const commit of commitEpisodes(folder, limit, filter)) {
    if (progress.cancelled()) break;
    result.commits = commit.index;
    for (const episode of commit.episodes) {
      const path = join(folder, episode.path);
      if (privacy.contentReason(episode.prefix + episode.region + episode.suffix)) {
        result.skipped++;
        continue;
      }
      store.addEpisode({ ...episode, path, uri: pathToFileURL(path).href, time: Date.parse(episode.date ?? '') || Date.now(), suggestionId: null });
      result.episodes++;
    }
    await progress.afterCommit(commit.index, commit.total, result.episodes);
  }
  return result;
}
