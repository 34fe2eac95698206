// Which documents are never captured: excluded files (by glob, or inside the server's own
// folders), huge files and binary files. Secrets inside captured text are the business of
// edits/redaction.ts.

import picomatch from 'picomatch';
import type { PrivacyOptions } from '../protocol';

export const defaultExcludeGlobs = [
  '**/.env*',
  '**/*.pem',
  '**/*.key',
  '**/secrets/**',
  '**/.ssh/**',
  '**/.aws/**',
  '**/.gnupg/**',
  '**/.netrc',
  '**/.git-credentials',
  '**/.pgpass',
  '**/id_rsa*',
  '**/id_dsa*',
  '**/id_ecdsa*',
  '**/id_ed25519*',
  '**/*.p12',
  '**/*.pfx',
  '**/*.jks',
  '**/*.keystore',
];
export const defaultMaxFileBytes = 1024 * 1024;

export type SkipReason = 'excluded' | 'too large' | 'binary' | 'not a file';

export class PrivacyFilter {
  private readonly isExcluded: (path: string) => boolean;
  private readonly folders: string[] = [];

  constructor(readonly options: PrivacyOptions) {
    // dot: a key under ~/.ssh/ is excluded too; nocase: .ENV is .env on macOS and Windows.
    this.isExcluded = picomatch([...defaultExcludeGlobs, ...options.exclude], { dot: true, nocase: true });
    for (const folder of options.excludeFolders ?? []) this.excludeFolder(folder);
  }

  /** Why a document must not be captured, or null when it may be. */
  skipReason(uri: string, path: string | null, text: string): SkipReason | null {
    if (!uri.startsWith('file:') || path === null) return 'not a file';
    if (this.excludedPath(path)) return 'excluded';
    return this.contentReason(text);
  }

  /** Never captures this file or folder (an export, say) from now on. */
  excludeFolder(path: string): void {
    this.folders.push(path.replace(/[\\/]+$/, ''));
  }

  excludedPath(path: string): boolean {
    const slashed = path.replace(/\\/g, '/');
    return this.isExcluded(slashed) || this.folders.some((folder) => path === folder || path.startsWith(folder + '/') || path.startsWith(folder + '\\'));
  }

  /**
   * Why a document must no longer be captured after a change, or null: too large now, or
   * binary text came in. Only the inserted text is scanned, so a keystroke costs no 8 kB scan.
   */
  changeReason(text: string, inserted: readonly string[]): 'too large' | 'binary' | null {
    if (this.tooLarge(text)) return 'too large';
    return inserted.some(looksBinary) ? 'binary' : null;
  }

  /** Why a document's text must not be captured, or null. */
  contentReason(text: string): 'too large' | 'binary' | null {
    return this.changeReason(text, [text]);
  }

  private tooLarge(text: string): boolean {
    // A UTF-16 unit is at most 3 bytes in UTF-8: most texts need no byte count at all.
    // Stryker disable next-line EqualityOperator,ConditionalExpression: equivalent, the fast path only skips a count that would agree
    return text.length * 3 > this.options.maxFileBytes && Buffer.byteLength(text) > this.options.maxFileBytes;
  }
}

/** A NUL, or many undecodable characters, in the first 8 kB: git's heuristic, roughly. */
export function looksBinary(text: string): boolean {
  const head = text.slice(0, 8192);
  if (head.includes('\0')) return true;
  let replacement = 0;
  for (const ch of head) if (ch === '\uFFFD') replacement++;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, 0 / 0 is NaN, which is not > 0.1
  return head.length > 0 && replacement / head.length > 0.1;
}
