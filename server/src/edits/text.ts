// Small helpers on text and randomness that every part of the server shares.

/** Lines with their line endings kept, so joining them gives the text back. */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/** A range of offsets in a text. */
export interface Span {
  start: number;
  end: number;
}

/**
 * Moves a tracked range through one change of [start, end) by `delta` characters; a change
 * touching the range widens it. Returns whether the change touched the range.
 */
export function mapRange(range: Span, start: number, end: number, delta: number): boolean {
  // A replacement ending where the range starts is before it; an insertion there is inside.
  if (end < range.start || (end === range.start && start < end)) {
    range.start += delta;
    range.end += delta;
    return false;
  }
  // The range ends at a line start: text inserted there belongs to the next line.
  if (start > range.end || (start === range.end && range.end > range.start)) return false;
  range.start = Math.min(range.start, start);
  range.end = Math.max(range.end, end) + delta;
  return true;
}

export function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export function commonSuffixLength(a: string, b: string, max = Math.min(a.length, b.length)): number {
  let i = 0;
  while (i < max && a[a.length - 1 - i] === b[b.length - 1 - i]) i++;
  return i;
}

/** mulberry32: small, fast and good enough for sampling; the same seed gives the same draws. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles a copy with a seeded Fisher–Yates. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  // Stryker disable next-line EqualityOperator: equivalent, a last step at 0 swaps the first item with itself
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
