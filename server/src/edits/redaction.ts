// Secrets inside any text that is kept are replaced by a marker; the code around them stays,
// so an edit next to an API key is still a useful episode.
//
// Redaction works on whole documents (`Redaction`), never on fragments: a secret split across
// lines or typed in several bursts is only recognisable once it stands complete in the text.
// Its earlier fragments may have been stored by then; `SecretLedger` remembers (in memory
// only) every secret seen, so the store can scrub those fragments and every later write can
// be checked against them.

export const REDACTED = '[REDACTED]';

// --- recognising secrets ---------------------------------------------------------------------

/**
 * Code files get the strict rules: there `password: string` is a type and `token = next` a
 * variable, so an unquoted value counts only when it looks like a token. In configuration
 * files (YAML, INI, TOML, .env, compose, shell, credentials files, anything not code) an
 * unquoted value after a secret's name is the secret.
 */
export type TextKind = 'code' | 'config';

const CODE_EXTENSIONS = new Set(
  'ts tsx mts cts js jsx mjs cjs py pyi rb go rs java kt kts scala c h cc cpp cxx hpp cs fs php swift m mm dart lua r jl ex exs erl hs ml clj vue svelte'.split(' '),
);

export function textKind(path: string): TextKind {
  const name = path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && CODE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase()) ? 'code' : 'config';
}

interface SecretRule {
  /**
   * Text the pattern cannot match without: a rule whose literal is absent is skipped. Speed
   * only, so mutants that empty it are equivalent (mutation testing lists them as survivors).
   */
  needs?: string;
  /** Matches a secret; the named group `secret` (or the whole match) is what gets redacted. */
  pattern: RegExp;
  /** The value must pass this too (in this kind of text). */
  accept?: (value: string, kind: TextKind) => boolean;
}

// Words in a name that say its value is a secret...
const SECRET_WORDS = String.raw`(?:password|passwd|passphrase|pwd|(?<![a-z])pass(?![a-z])|secret|token(?!iz)|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth[_-]?key)`;
// ...and words that say it may be one, if it also looks like a token.
const KEYLIKE_WORDS = String.raw`(?:key|auth|salt|signature|cookie|session|bearer|hmac|dsn)`;
const nameWith = (words: string) => String.raw`(?<![A-Za-z0-9_.-])["']?[A-Za-z0-9_.-]*?${words}[A-Za-z0-9_.-]*["']?`;
const ASSIGN = String.raw`\s*(?::=|=>|\+=|\?=|=|:)[ \t]*`;
const QUOTED = String.raw`(?<q>["'\`])(?<secret>(?:(?!\k<q>)[^\n\\]|\\.){4,}?)\k<q>`;
// Up to white space, a quote, or the ; and , that end a value in connection strings and lists.
const UNQUOTED = String.raw`(?<secret>[^\s"'\`;,]{4,})`;

const SECRET_RULES: SecretRule[] = [
  // Private keys: a whole block, or an unfinished one (its base64 and header lines so far).
  { needs: 'PRIVATE KEY', pattern: /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END \1PRIVATE KEY\2-----/g },
  { needs: 'PRIVATE KEY', pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:(?:\r?\n|\\n)(?:[A-Za-z0-9+/=]+|[A-Za-z-]+:[^\n]*)(?=\r?\n|\\n|$))*/g },
  { pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/g }, // AWS access key ids
  { needs: '_', pattern: /\bgh[pousr]_[A-Za-z0-9]{30,}/g }, // GitHub
  { needs: 'github_pat_', pattern: /\bgithub_pat_[A-Za-z0-9_]{20,}/g },
  { needs: 'gl', pattern: /\bgl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,}/g }, // GitLab
  { needs: 'xox', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g }, // Slack tokens
  { needs: 'hooks.slack.com', pattern: /hooks\.slack\.com\/services\/(?<secret>[A-Za-z0-9/_-]{20,})/g }, // Slack webhooks
  { needs: 'sk-', pattern: /\bsk-[A-Za-z0-9_-]{20,}/g }, // OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
  { needs: 'AIza', pattern: /\bAIza[0-9A-Za-z_-]{35}/g }, // Google API keys
  { needs: 'GOCSPX-', pattern: /\bGOCSPX-[A-Za-z0-9_-]{20,}/g }, // Google OAuth client secrets
  { needs: 'ya29.', pattern: /\bya29\.[0-9A-Za-z_-]{20,}/g }, // Google OAuth access tokens
  { needs: 'k_', pattern: /\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}/g }, // Stripe
  { needs: 'whsec_', pattern: /\bwhsec_[A-Za-z0-9]{24,}/g }, // Stripe webhook secrets
  { needs: 'npm_', pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  { needs: 'hf_', pattern: /\bhf_[A-Za-z0-9]{30,}/g }, // Hugging Face
  { needs: 'SG.', pattern: /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/g }, // SendGrid
  { pattern: /\bSK[0-9a-fA-F]{32}\b/g }, // Twilio
  { needs: '_v1_', pattern: /\bdo[pro]_v1_[a-f0-9]{64}\b/g }, // DigitalOcean
  { needs: 'shp', pattern: /\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b/g }, // Shopify
  { needs: 'pypi-', pattern: /\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/g }, // PyPI
  { needs: 'key-', pattern: /\bkey-[0-9a-f]{32}\b/g }, // Mailgun
  { needs: ':AA', pattern: /\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b/g }, // Telegram bots
  { needs: 'eyJ', pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g }, // JWTs
  // Authorization headers and bearer tokens.
  { pattern: /\b(?:Bearer|Basic|Token)\s+(?<secret>[A-Za-z0-9._~+/=-]{16,})/g },
  // scheme://user:password@host
  { needs: '://', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:(?<secret>[^\s@/]+)@/gi },
  // Connection strings: Server=...;Password=...; AccountKey=...;
  { pattern: /(?<=[;"'`])[ \t]*(?:password|pwd|accountkey|sharedaccesskey)\s*=\s*(?<secret>[^;"'`\s]{4,})/gi },
  // <password>...</password>
  { pattern: new RegExp(String.raw`<(?<tag>[A-Za-z0-9_.:-]*?${SECRET_WORDS}[A-Za-z0-9_.:-]*)>(?<secret>[^<\s]{4,})</\k<tag>>`, 'gi') },
  // name = "value", name: 'value', "name": "value", export NAME="value"
  { pattern: new RegExp(nameWith(SECRET_WORDS) + ASSIGN + QUOTED, 'gi'), accept: (v) => !isReference(v) },
  { pattern: new RegExp(nameWith(KEYLIKE_WORDS) + ASSIGN + QUOTED, 'gi'), accept: (v) => looksLikeToken(v) },
  // NAME=value, name: value, - POSTGRES_PASSWORD=value (configuration), or a token after them (code)
  { pattern: new RegExp(nameWith(SECRET_WORDS) + ASSIGN + UNQUOTED, 'gi'), accept: (v, kind) => (kind === 'config' ? !isReference(v) && !/^[\d._-]+[}\]]*$/.test(v) : looksLikeToken(v)) },
  { pattern: new RegExp(nameWith(KEYLIKE_WORDS) + ASSIGN + UNQUOTED, 'gi'), accept: (v) => looksLikeToken(v) },
];

// With indices (the d flag), to find the named group `secret`.
for (const rule of SECRET_RULES) rule.pattern = new RegExp(rule.pattern.source, rule.pattern.flags + 'd');

/** `${DB_PASSWORD}`, `process.env.TOKEN`, `readPassword()`, `<your-key>`, `!vault |` and the like name a secret, they are not one. */
function isReference(value: string): boolean {
  return value.includes(REDACTED) || /^(?:process\.env|os\.environ|env\(|getenv|\$|\{\{|<|%|!|\*|&|\||>)/i.test(value) || /[()]/.test(value) || /^(?:null|none|nil|true|false|undefined|string|str|bytes)[,;]?$/i.test(value);
}

/** A long run of letters and digits with little repetition: an API token, not a word or a name. */
export function looksLikeToken(value: string): boolean {
  if (value.length < 16 || /\s/.test(value) || isReference(value)) return false;
  if (!/[0-9]/.test(value) || !/[A-Za-z]/.test(value)) return false;
  // Dotted names (config.api.key2) and paths are code.
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(value) || /^\.{0,2}\//.test(value)) return false;
  return shannonEntropy(value) >= 3;
}

function shannonEntropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / value.length) * Math.log2(n / value.length);
  return bits;
}

interface Span {
  start: number;
  end: number;
}

/** Where the secrets in a text are, sorted and merged. */
export function secretSpans(text: string, kind: TextKind): Span[] {
  const spans: Span[] = [];
  for (const rule of SECRET_RULES) {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent, the rule would match nothing
    if (rule.needs && !text.includes(rule.needs)) continue;
    for (const match of text.matchAll(rule.pattern)) {
      const [start, end] = match.indices!.groups?.secret ?? match.indices![0];
      const value = text.slice(start, end);
      // Stryker disable next-line EqualityOperator,ConditionalExpression: equivalent, every pattern matches at least one character
      if (end > start && (!rule.accept || rule.accept(value, kind))) spans.push({ start, end });
    }
  }
  spans.sort((a, b) => a.start - b.start);
  const merged: Span[] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    // Stryker disable next-line EqualityOperator: equivalent for privacy, two touching secrets read as one marker or as two
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}

/** The text with each of the sorted, disjoint spans replaced by [REDACTED]. */
function replaceSpans(text: string, spans: Span[]): string {
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += text.slice(at, span.start) + REDACTED;
    at = span.end;
  }
  return out + text.slice(at);
}

/**
 * A document with its secrets redacted, and the map from its offsets to the redacted text's,
 * so that prompts, regions and diffs are cut from the redacted text at the right places.
 */
export class Redaction {
  readonly text: string;
  private readonly spans: Span[];

  constructor(
    readonly raw: string,
    kind: TextKind,
  ) {
    this.spans = secretSpans(raw, kind);
    this.text = replaceSpans(raw, this.spans);
  }

  /** The secrets themselves (kept in memory only, to scrub their earlier fragments). */
  get secrets(): string[] {
    return this.spans.map((s) => this.raw.slice(s.start, s.end));
  }

  /** The redacted text's offset for a raw offset; one inside a secret moves to the marker's start (or, rounding up, its end). */
  offset(raw: number, roundUp = false): number {
    let shift = 0;
    for (const span of this.spans) {
      if (raw <= span.start) break;
      if (raw < span.end) return span.start + shift + (roundUp ? REDACTED.length : 0);
      shift += REDACTED.length - (span.end - span.start);
    }
    return raw + shift;
  }

  /** The redacted text between two raw offsets (a secret cut by either end is wholly inside). */
  slice(start: number, end: number): string {
    return this.text.slice(this.offset(start), this.offset(end, true));
  }

  /** Whether a secret overlaps the raw range [start, end). */
  touches(start: number, end: number): boolean {
    return this.spans.some((s) => s.start < end && s.end > start);
  }
}

/** The text with every recognised secret replaced by [REDACTED]. */
export function redactSecrets(text: string, path: string): string {
  return new Redaction(text, textKind(path)).text;
}

// --- fragments of secrets --------------------------------------------------------------------

/** Runs of a known secret at least this long are scrubbed wherever they were stored. */
export const FRAGMENT_CHARS = 8;

/**
 * The secrets seen in this process, in memory only. A secret typed in two bursts is stored
 * half-typed by the first one; once it stands complete, its fragments are recognised here.
 */
export class SecretLedger {
  private readonly grams = new Set<string>();
  private readonly known = new Set<string>();

  /** Adds secrets; returns the ones not seen before. */
  add(secrets: Iterable<string>): string[] {
    const fresh: string[] = [];
    for (const secret of secrets) {
      if (this.known.has(secret) || secret.length < FRAGMENT_CHARS) continue;
      this.known.add(secret);
      fresh.push(secret);
      for (let i = 0; i + FRAGMENT_CHARS <= secret.length; i++) this.grams.add(secret.slice(i, i + FRAGMENT_CHARS));
    }
    return fresh;
  }

  get size(): number {
    return this.known.size;
  }

  /** The text with every run of FRAGMENT_CHARS or more characters of a known secret replaced by [REDACTED]. */
  scrub(text: string): string {
    // Stryker disable next-line ConditionalExpression: equivalent, a fast path for the usual case of no secrets
    if (this.grams.size === 0) return text;
    const runs: Span[] = [];
    // Stryker disable next-line ArithmeticOperator: equivalent, a slice past the end is too short to be a gram
    for (let i = 0; i + FRAGMENT_CHARS <= text.length; i++) {
      if (!this.grams.has(text.slice(i, i + FRAGMENT_CHARS))) continue;
      const last = runs[runs.length - 1];
      if (last && i <= last.end) last.end = i + FRAGMENT_CHARS;
      else runs.push({ start: i, end: i + FRAGMENT_CHARS });
    }
    return replaceSpans(text, runs);
  }
}

/**
 * Substrings that any stored fragment of at least FRAGMENT_CHARS + step - 1 characters of
 * these secrets contains: the store looks for rows to scrub with them.
 */
export function fragmentProbes(secrets: string[], maxPerSecret = 64): string[] {
  const probes = new Set<string>();
  for (const secret of secrets) {
    const step = Math.max(1, Math.ceil((secret.length - FRAGMENT_CHARS + 1) / maxPerSecret));
    for (let i = 0; i + FRAGMENT_CHARS <= secret.length; i += step) probes.add(secret.slice(i, i + FRAGMENT_CHARS));
  }
  return [...probes];
}
