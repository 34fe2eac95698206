// Rewards, in one home: the metrics of a predicted edit against the region the user actually
// wrote, as in the GAPO paper's reward code (exact match, normalised edit similarity, their
// mean `edem`, sentence BLEU), and the bonus a shown suggestion earns from its outcome.
//
// Line endings are normalised to LF before any comparison: a model writes LF, and a file's
// CRLF is the editor's business, not a mistake in the edit.
//
// Edit distance: `fastest-levenshtein` (Myers' bit-parallel algorithm, MIT, used by webpack
// and stylelint); about 30 ms for two unrelated 10 kB strings here, see `npm run bench`. It counts
// UTF-16 code units, so text with astral characters (emoji, rare CJK) is first mapped to one
// unit per code point, to count characters as Python's Levenshtein does.

import { distance } from 'fastest-levenshtein';
import type { Outcome } from '../edits/suggestion';
import type { SuggestionState } from '../protocol';

export type MetricName = 'em' | 'edit' | 'edem' | 'bleu';

export const metrics: Record<MetricName, (prediction: string, target: string) => number> = {
  em: exactMatch,
  edit: editSimilarity,
  edem: editAndExactMatch,
  bleu: sentenceBleu,
};

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(metrics, name);
}

/** 1 when prediction and target agree once surrounding white space is stripped, else 0. */
export function exactMatch(prediction: string, target: string): number {
  return normalizeLineEndings(prediction).trim() === normalizeLineEndings(target).trim() ? 1 : 0;
}

/** 1 − Levenshtein distance / the longer length, in characters; 1 when both are empty. */
export function editSimilarity(prediction: string, target: string): number {
  const [a, b] = toSingleUnitStrings(normalizeLineEndings(prediction), normalizeLineEndings(target));
  const longer = Math.max(a.length, b.length);
  if (longer === 0) return 1;
  return 1 - distance(a, b) / longer;
}

/** The paper's reward: the mean of exact match and edit similarity. */
export function editAndExactMatch(prediction: string, target: string): number {
  return (exactMatch(prediction, target) + editSimilarity(prediction, target)) / 2;
}

const BLEU_MAX_ORDER = 4;
const SMOOTHING_EPSILON = 0.1;

/**
 * Sentence BLEU over white-space tokens with uniform weights up to 4-grams and NLTK's
 * smoothing method 1 (a zero n-gram precision becomes 0.1 / its denominator). As in NLTK, no
 * unigram in common gives 0. Unlike NLTK, two empty texts give 1: an empty region predicted
 * as empty (a deletion) is a perfect answer.
 */
export function sentenceBleu(prediction: string, target: string): number {
  const hypothesis = whitespaceTokens(normalizeLineEndings(prediction));
  const reference = whitespaceTokens(normalizeLineEndings(target));
  if (hypothesis.length === 0 && reference.length === 0) return 1;

  const precisions: number[] = [];
  for (let n = 1; n <= BLEU_MAX_ORDER; n++) {
    const hypothesisCounts = ngramCounts(hypothesis, n);
    const referenceCounts = ngramCounts(reference, n);
    let matches = 0;
    let total = 0;
    for (const [gram, count] of hypothesisCounts) {
      matches += Math.min(count, referenceCounts.get(gram) ?? 0);
      total += count;
    }
    // NLTK's modified precision never divides by zero: the denominator is at least 1.
    const denominator = Math.max(1, total);
    if (n === 1 && matches === 0) return 0;
    precisions.push(matches === 0 ? SMOOTHING_EPSILON / denominator : matches / denominator);
  }
  const logPrecision = precisions.reduce((sum, p) => sum + Math.log(p), 0) / BLEU_MAX_ORDER;
  return brevityPenalty(hypothesis.length, reference.length) * Math.exp(logPrecision);
}

function brevityPenalty(hypothesisLength: number, referenceLength: number): number {
  if (hypothesisLength > referenceLength) return 1;
  // Stryker disable next-line ConditionalExpression: equivalent, an empty prediction has no unigram in common and scores 0 before this
  if (hypothesisLength === 0) return 0;
  return Math.exp(1 - referenceLength / hypothesisLength);
}

function whitespaceTokens(text: string): string[] {
  // Stryker disable next-line Regex: equivalent, the filter drops the empty tokens either way
  return text.split(/\s+/u).filter((token) => token.length > 0);
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    // Tokens hold no white space, so a space joins them without ambiguity.
    const gram = tokens.slice(i, i + n).join(' ');
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
}

export function normalizeLineEndings(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

// Stryker disable next-line Regex: equivalent, a wider test only remaps more, which changes no distance
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Rewrites both strings so that each code point is one UTF-16 unit, keeping equal code points
 * equal, so that a unit-counting edit distance counts characters. Only needed (and only done)
 * when a surrogate pair is present.
 */
function toSingleUnitStrings(a: string, b: string): [string, string] {
  // (The shortcut is for speed: remapping text without surrogates changes no distance.)
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return [a, b];
  const codes = new Map<number, number>();
  const remap = (text: string): string => {
    let out = '';
    for (const char of text) {
      const point = char.codePointAt(0)!;
      let code = codes.get(point);
      if (code === undefined) {
        code = codes.size;
        codes.set(point, code);
      }
      out += String.fromCharCode(code);
    }
    return out;
  };
  if (new Set([...a, ...b]).size > 0xffff) {
    throw new RangeError('too many distinct characters to compare');
  }
  return [remap(a), remap(b)];
}

/** A reward that advantages cannot be computed from (not a finite number, an empty group). */
export class RewardError extends Error {}

// --- the outcome bonus -----------------------------------------------------------------------
//
// For the language server's training, every rollout is scored with the paper's edem
// (mean of exact match and edit similarity) against what the user finally wrote. The rollout
// the user actually saw also carries what the user did with it, in the spirit of Cursor's
// +0.75 (accepted) / −0.25 (rejected) / 0 (not shown) scheme:
//
//   r(shown) = edem(shown, final) + bonus
//   bonus    = +0.75 · s   accepted, s = share of its characters alive at the last survival
//                           check (1 before the first check): kept text earns the full bonus,
//                           text accepted then rewritten earns part of it
//            = −0.25       typed over (the user wrote something else in its place)
//            =  0          ignored (the cursor or the edits moved elsewhere)
//
// so r lies in [−0.25, 1.75]. Showing nothing (the region unchanged) is an ordinary rollout:
// when the user changed nothing, it scores edem = 1 and the policy learns to stay quiet.

export const ACCEPT_BONUS = 0.75;
export const TYPED_OVER_BONUS = -0.25;

/** The explicit verdict on a shown suggestion, and the share of it that survived (accepts only). */
export function verdictOf(outcomes: Outcome[]): { verdict: SuggestionState; survival: number | null } {
  const accepted = outcomes.some((o) => o.kind === 'accepted');
  // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: equivalent, only survival outcomes carry a share and an afterS
  const checks = outcomes.filter((o) => o.kind === 'survival' && o.share !== null);
  // Stryker disable next-line EqualityOperator: equivalent, no two checks of one suggestion share an afterS
  const latest = checks.length ? checks.reduce((a, b) => ((b.afterS ?? 0) >= (a.afterS ?? 0) ? b : a)) : null;
  if (accepted) return { verdict: 'accepted', survival: latest ? latest.share : null };
  if (outcomes.some((o) => o.kind === 'typed_over')) return { verdict: 'typed_over', survival: null };
  if (outcomes.some((o) => o.kind === 'ignored')) return { verdict: 'ignored', survival: null };
  return { verdict: 'pending', survival: null };
}

export function outcomeBonus(outcomes: Outcome[]): number {
  const { verdict, survival } = verdictOf(outcomes);
  if (verdict === 'accepted') return ACCEPT_BONUS * (survival ?? 1);
  if (verdict === 'typed_over') return TYPED_OVER_BONUS;
  return 0;
}
