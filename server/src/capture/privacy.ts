// What must never be stored: excluded files (by glob), huge files, binary files, and secrets
// inside any text that is kept. Redaction replaces the secret with a marker and keeps the code
// around it, so an edit next to an API key is still a useful episode.

import picomatch from 'picomatch';

export const defaultExcludeGlobs = ['**/.env*', '**/*.pem', '**/*.key', '**/secrets/**'];
export const defaultMaxFileBytes = 1024 * 1024;

export const REDACTED = '[REDACTED]';

export interface PrivacyOptions {
  /** Globs matched against the file's path; added to the defaults. */
  exclude: string[];
  maxFileBytes: number;
}

export type SkipReason = 'excluded' | 'too large' | 'binary' | 'not a file';

export class PrivacyFilter {
  private readonly isExcluded: (path: string) => boolean;

  constructor(readonly options: PrivacyOptions) {
    this.isExcluded = picomatch([...defaultExcludeGlobs, ...options.exclude], { dot: true });
  }

  /** Why a document must not be captured, or null when it may be. */
  skipReason(uri: string, path: string | null, text: string): SkipReason | null {
    if (!uri.startsWith('file:') || path === null) return 'not a file';
    if (this.isExcluded(path)) return 'excluded';
    if (Buffer.byteLength(text, 'utf8') > this.options.maxFileBytes) return 'too large';
    if (looksBinary(text)) return 'binary';
    return null;
  }
}

/** A NUL, or many undecodable characters, in the first 8 kB: git's heuristic, roughly. */
export function looksBinary(text: string): boolean {
  const head = text.slice(0, 8192);
  if (head.includes('\0')) return true;
  let replacement = 0;
  for (const ch of head) if (ch === '\uFFFD') replacement++;
  return head.length > 0 && replacement / head.length > 0.1;
}

// Secrets recognised by their shape, then assignments whose name says "secret".
const SECRET_PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bglpat-[A-Za-z0-9_-]{20,}\b/g, // GitLab
  /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/g, // Slack
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b/g, // OpenAI, Anthropic
  /\bAIza[0-9A-Za-z_-]{35}\b/g, // Google API keys
  /\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}\b/g, // Stripe
  /\bnpm_[A-Za-z0-9]{36}\b/g,
  /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b/g, // JWTs
];

const SECRET_NAME = String.raw`[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]*`;
// name = "value", name: 'value', "name": "value" (quoted values of any length)
const QUOTED_ASSIGNMENT = new RegExp(String.raw`(["']?${SECRET_NAME}["']?\s*(?::|=|:=|=>)\s*)(["'\`])((?:(?!\2).){4,})\2`, 'gi');
// NAME=value in shell and .env style (unquoted, no spaces)
const BARE_ASSIGNMENT = new RegExp(String.raw`^(\s*(?:export\s+)?${SECRET_NAME}\s*=\s*)([^\s"'\`]{4,})`, 'gim');
// scheme://user:password@host
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)([^\s@/]+)(@)/gi;

/** The text with every recognised secret replaced by [REDACTED]. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, REDACTED);
  out = out.replace(QUOTED_ASSIGNMENT, (match, head: string, quote: string, value: string) => (isCodeNotSecret(value) ? match : `${head}${quote}${REDACTED}${quote}`));
  out = out.replace(BARE_ASSIGNMENT, (match, head: string, value: string) => (isCodeNotSecret(value) ? match : `${head}${REDACTED}`));
  out = out.replace(URL_CREDENTIALS, (_m, head: string, _secret: string, at: string) => `${head}${REDACTED}${at}`);
  return out;
}

// `password = process.env.PASSWORD` or `token: ${x}` are code, not secrets.
function isCodeNotSecret(value: string): boolean {
  return value === REDACTED || /^(?:process\.env|os\.environ|env\(|\$\{|\{\{|<)/.test(value) || /[()]/.test(value);
}
