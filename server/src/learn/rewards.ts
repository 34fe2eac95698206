// Rewards for the language server's training. Every rollout is scored with the paper's edem
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

import type { OutcomeRecord } from '../store/store';

export const ACCEPT_BONUS = 0.75;
export const TYPED_OVER_BONUS = -0.25;

export type Verdict = 'accepted' | 'typed_over' | 'ignored' | 'pending';

/** The explicit verdict on a shown suggestion, and the share of it that survived (accepts only). */
export function verdictOf(outcomes: OutcomeRecord[]): { verdict: Verdict; survival: number | null } {
  const accepted = outcomes.some((o) => o.kind === 'accepted');
  const checks = outcomes.filter((o) => o.kind === 'survival' && o.share !== null);
  const latest = checks.length ? checks.reduce((a, b) => ((b.afterS ?? 0) >= (a.afterS ?? 0) ? b : a)) : null;
  if (accepted) return { verdict: 'accepted', survival: latest ? latest.share : null };
  if (outcomes.some((o) => o.kind === 'typed_over')) return { verdict: 'typed_over', survival: null };
  if (outcomes.some((o) => o.kind === 'ignored')) return { verdict: 'ignored', survival: null };
  return { verdict: 'pending', survival: null };
}

export function outcomeBonus(outcomes: OutcomeRecord[]): number {
  const { verdict, survival } = verdictOf(outcomes);
  if (verdict === 'accepted') return ACCEPT_BONUS * (survival ?? 1);
  if (verdict === 'typed_over') return TYPED_OVER_BONUS;
  return 0;
}
