// Turning a change of a file (before → after) into edit episodes, the way the shared dataset
// was made from git commits: one episode per diff hunk, as if the hunks were written top to
// bottom, each shown with the earlier hunks already applied and those hunks as edit history.
// The language server uses it for settled edits, `gapo replay --git` for commits.

import { createHash } from 'node:crypto';
import { structuredPatch, type StructuredPatchHunk } from 'diff';
import type { Episode } from '../edits/episode';
import { commonPrefixLength, splitLines } from '../edits/text';

export const CONTEXT_LINES = 2;
export const EXCERPT_LINES = 40;
export const HISTORY_LIMIT = 6;

/** A unified diff of the change, `context` lines around each hunk ('' when nothing changed). */
export function unifiedDiff(path: string, before: string, after: string, context = 0): string {
  const patch = structuredPatch(path, path, before, after, undefined, undefined, { context });
  return patch.hunks.map((hunk) => formatHunk(path, hunk)).join('');
}

export function formatHunk(path: string, hunk: StructuredPatchHunk): string {
  return `--- a/${path}\n+++ b/${path}\n@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@\n${hunk.lines.join('\n')}\n`;
}

export interface ChangeSource {
  path: string;
  language: string;
  /** Recorded as the episodes' `source` and mixed into their ids. */
  source: string;
  date?: string;
  /** Earlier edits of the file (unified diffs, oldest first). */
  history: string[];
  /** Mixed into the ids, so the same edit made twice is two episodes. */
  salt?: string;
}

/** Episodes for the change from `before` to `after`, top to bottom. */
export function episodesFromChange(before: string, after: string, from: ChangeSource): Episode[] {
  const patch = structuredPatch(from.path, from.path, before, after, undefined, undefined, { context: CONTEXT_LINES });
  const afterLines = splitLines(after);
  let current = splitLines(before);
  const history = [...from.history];
  const episodes: Episode[] = [];
  let shift = 0; // lines the earlier hunks added
  for (const [index, hunk] of patch.hunks.entries()) {
    // jsdiff numbers an empty side from the line before it (or 1 when the file becomes empty),
    // so the hunk's start is read from whichever side has lines.
    const start = hunk.oldLines > 0 ? hunk.oldStart - 1 + shift : hunk.newStart - 1;
    shift += hunk.newLines - hunk.oldLines;
    const regionLines = current.slice(start, start + hunk.oldLines);
    const targetLines = afterLines.slice(start, start + hunk.newLines);
    const region = regionLines.join('');
    const target = targetLines.join('');
    if (region !== target) {
      episodes.push({
        id: episodeId(from.source, from.salt ?? '', from.path, index, region, target),
        source: from.source,
        ...(from.date ? { date: from.date } : {}),
        language: from.language,
        path: from.path,
        history: history.slice(-HISTORY_LIMIT),
        prefix: current.slice(Math.max(0, start - EXCERPT_LINES), start).join(''),
        region,
        suffix: current.slice(start + hunk.oldLines, start + hunk.oldLines + EXCERPT_LINES).join(''),
        cursor: changedLineStart(region, target),
        target,
      });
    }
    history.push(formatHunk(from.path, hunk));
    current = [...current.slice(0, start), ...targetLines, ...current.slice(start + hunk.oldLines)];
  }
  return episodes;
}

export function episodeId(...parts: (string | number)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${String(part).length}:${part}`);
  return hash.digest('hex').slice(0, 16);
}

/** Where the first changed line starts in the region: the dataset's cursor. */
export function changedLineStart(region: string, target: string): number {
  return region.lastIndexOf('\n', commonPrefixLength(region, target) - 1) + 1;
}

/** The language id VS Code would give a path, for episodes made outside an editor. */
export function languageOf(path: string): string {
  const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  const byExtension: Record<string, string> = {
    ts: 'typescript', tsx: 'typescriptreact', mts: 'typescript', cts: 'typescript',
    js: 'javascript', jsx: 'javascriptreact', mjs: 'javascript', cjs: 'javascript',
    py: 'python', rs: 'rust', go: 'go', java: 'java', c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', hpp: 'cpp',
    cs: 'csharp', rb: 'ruby', php: 'php', swift: 'swift', kt: 'kotlin', scala: 'scala', sh: 'shellscript',
    json: 'json', md: 'markdown', yml: 'yaml', yaml: 'yaml', toml: 'toml', css: 'css', html: 'html', sql: 'sql',
  };
  return byExtension[extension] ?? 'plaintext';
}
