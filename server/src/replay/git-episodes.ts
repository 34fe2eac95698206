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

/** Episodes oldest first, from at most the `maxCommits` most recent commits. */
export function episodesFromGit(repoPath: string, maxCommits = 500): Episode[] {
  const repo = resolve(repoPath);
  const name = basename(git(repo, ['rev-parse', '--show-toplevel']).trim());
  const log = git(repo, ['log', '--no-merges', `--max-count=${maxCommits}`, '--format=%H %aI']).trim();
  const commits = log ? log.split('\n').map((line) => line.split(' ') as [string, string]).reverse() : [];
  const episodes: Episode[] = [];
  for (const [commit, date] of commits) {
    // The first commit, and the oldest of a shallow clone, have no parent to diff against.
    if (!hasParent(repo, commit)) continue;
    const changed = git(repo, ['diff-tree', '--no-commit-id', '-r', '--name-only', '--diff-filter=M', commit]).split('\n').filter(Boolean);
    for (const path of changed) {
      const language = languageOf(path);
      if (NOT_CODE.has(language)) continue;
      const before = git(repo, ['show', `${commit}^:${path}`]);
      const after = git(repo, ['show', `${commit}:${path}`]);
      if (before.length > MAX_FILE_BYTES || after.length > MAX_FILE_BYTES || looksBinary(before) || looksBinary(after)) continue;
      episodes.push(...episodesFromChange(before, after, { path, language, source: `git:${name}@${commit.slice(0, 12)}`, date, history: [] }));
    }
  }
  return episodes;
}
