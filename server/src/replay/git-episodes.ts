// Edit episodes from a repository's own history, made the way shared/data/edits was: every
// non-merge commit that modifies a source file gives one episode per diff hunk, the hunks
// written top to bottom. A user can bootstrap the model from their own repository.

import { execFileSync } from 'node:child_process';
import { basename, resolve } from 'node:path';
import { episodesFromChange, languageOf } from '../capture/edit-episodes';
import { looksBinary } from '../capture/privacy';
import type { Episode } from '../edits/episode';

const NOT_CODE = new Set(['plaintext', 'json', 'markdown', 'yaml', 'toml']);
const MAX_FILE_BYTES = 1024 * 1024;

export class GitError extends Error {}

function git(repo: string, args: string[]): string {
  try {
    return execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim().split('\n')[0];
    throw new GitError(`git ${args[0]} failed in ${repo}: ${stderr || (error as Error).message}`);
  }
}

function hasParent(repo: string, commit: string): boolean {
  try {
    execFileSync('git', ['-C', repo, 'cat-file', '-e', `${commit}^{commit}`], { stdio: 'ignore' });
    execFileSync('git', ['-C', repo, 'cat-file', '-e', `${commit}^`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** What may be learned from a repository's files: the same rules as typing in them. */
export interface GitPrivacy {
  /** Whether a file (relative to the repository) may be used at all. */
  includes(path: string): boolean;
  /** The text with its secrets replaced. */
  redact(text: string, path: string): string;
}

const everything: GitPrivacy = { includes: () => true, redact: (text) => text };

/** Episodes oldest first, from at most the `maxCommits` most recent commits. */
export function episodesFromGit(repoPath: string, maxCommits = 500, privacy: GitPrivacy = everything): Episode[] {
  return [...commitEpisodes(repoPath, maxCommits, privacy)].flatMap((c) => c.episodes);
}

/**
 * The same, one commit at a time (oldest first), so that a server can yield between commits.
 * `index` counts the commits from 1 to `total`.
 */
export function* commitEpisodes(repoPath: string, maxCommits = 500, privacy: GitPrivacy = everything): Generator<{ commit: string; index: number; total: number; episodes: Episode[] }> {
  const repo = resolve(repoPath);
  const name = basename(git(repo, ['rev-parse', '--show-toplevel']).trim());
  const log = git(repo, ['log', '--no-merges', `--max-count=${maxCommits}`, '--format=%H %aI']).trim();
  const commits = log ? log.split('\n').map((line) => line.split(' ') as [string, string]).reverse() : [];
  for (const [i, [commit, date]] of commits.entries()) {
    const episodes: Episode[] = [];
    // The first commit, and the oldest of a shallow clone, have no parent to diff against.
    const changed = hasParent(repo, commit) ? git(repo, ['diff-tree', '--no-commit-id', '-r', '--name-only', '--diff-filter=M', commit]).split('\n').filter(Boolean) : [];
    for (const path of changed) {
      const language = languageOf(path);
      if (NOT_CODE.has(language) || !privacy.includes(path)) continue;
      const before = git(repo, ['show', `${commit}^:${path}`]);
      const after = git(repo, ['show', `${commit}:${path}`]);
      if (before.length > MAX_FILE_BYTES || after.length > MAX_FILE_BYTES || looksBinary(before) || looksBinary(after)) continue;
      const source = `git:${name}@${commit.slice(0, 12)}`;
      episodes.push(...episodesFromChange(privacy.redact(before, path), privacy.redact(after, path), { path, language, source, date, history: [] }));
    }
    yield { commit, index: i + 1, total: commits.length, episodes };
  }
}
