// The eval gate: a candidate adapter goes live only if the user would be better off with it.
// The held-out episodes (the most recent ones) are typed as a user types them, through the
// serving pipeline's own stages (replay/pipeline-editor.ts), once with the live adapter and
// once with the candidate; what counts is what the user gets: the characters the accepted
// suggestions wrote, and the share of shown suggestions worth accepting.
//
// The rule: the candidate must save more characters than the live adapter by more than the
// measure's noise, taken as 1.645 standard errors of the per-episode difference (a one-sided
// 95% paired test over the held-out episodes), and its share of shown suggestions accepted may
// not fall by more than 5 points (more characters bought with a screen of wrong ghost text is
// no gain). An adapter that changes nothing gains 0 and stays out.

import { defaultCaptureOptions } from '../capture/document-capture';
import type { Episode } from '../edits/episode';
import { formatOf } from '../edits/prompt-format';
import type { Engine } from '../model/engine';
import { PipelineEditor } from '../replay/pipeline-editor';
import { servingSettings } from '../suggest/pipeline';
import type { GateVerdict, HeldOutTyping, PromptLimits } from '../protocol';
import { replayTyping } from '../replay/typing';
import type { ServingChoices } from './training-job';

/** One-sided 95%: z for the paired gain's lower bound. */
export const GAIN_Z = 1.645;
/** The largest fall in the share of shown suggestions accepted that a candidate may bring. */
export const MAX_ACCEPTANCE_DROP = 0.05;

/**
 * Suggestion requests per held-out episode: about the first 100 characters of each edit are
 * typed (a word boundary every 4–5 characters), the rest arrives as a paste and is not counted.
 * Most edits are shorter; a long one would otherwise cost hundreds of generations.
 */
export const GATE_REQUESTS_PER_EPISODE = 24;

/** The rule in one sentence, as the README, docs/language-server.md and the walkthrough state it (a test holds them to it). */
export const GATE_RULE =
  `A trained adapter goes live only if, typing the most recent held-out episodes through the same pipeline that serves suggestions, ` +
  `it saves more characters than the live adapter by more than ${GAIN_Z} standard errors of the per-episode difference ` +
  `and its share of shown suggestions accepted falls by no more than ${MAX_ACCEPTANCE_DROP * 100} points; otherwise it is kept, not live.`;

/** Types the held-out episodes with the engine's current adapter, as the server would serve them. */
export async function typeHeldOut(
  engine: Engine,
  episodes: Episode[],
  serving: ServingChoices,
  prompt: PromptLimits,
  /** Runs before every generation (the training thread yields to suggestions there). */
  beforeGenerate: () => void,
  onEpisode?: (done: number, total: number) => void,
): Promise<HeldOutTyping> {
  const format = formatOf(engine.info.promptFormat);
  const generator = {
    generate: (text: string, options: Parameters<Engine['generate']>[1], signal?: AbortSignal) => {
      beforeGenerate();
      return engine.generate(text, options, () => signal?.aborted ?? false);
    },
  };
  const settings = servingSettings(format, prompt, serving);
  const editor = new PipelineEditor(generator, settings, { ...defaultCaptureOptions, regionLines: serving.regionLines });
  // Held-out episodes carry their file's path; typed at the root, the prompt names it as captured.
  const typing = { root: '/', onEpisode, maxRequestsPerEpisode: GATE_REQUESTS_PER_EPISODE };
  const { episodes: n, charsTotal, charsSaved, shown, accepted, savedPerEpisode } = await replayTyping(editor, episodes, typing);
  return { episodes: n, charsTotal, charsSaved, shown, accepted, savedPerEpisode };
}

const acceptedShare = (t: HeldOutTyping): number | null => (t.shown ? t.accepted / t.shown : null);

/** The gate's decision for a candidate against the live adapter, typed on the same episodes. */
export function judge(live: HeldOutTyping, candidate: HeldOutTyping, liveName: string): GateVerdict {
  if (live.savedPerEpisode.length !== candidate.savedPerEpisode.length) throw new Error('the gate compares typings of the same episodes');
  const differences = candidate.savedPerEpisode.map((saved, i) => saved - live.savedPerEpisode[i]);
  const n = differences.length;
  const gain = differences.reduce((a, b) => a + b, 0);
  const mean = n ? gain / n : 0;
  const variance = n > 1 ? differences.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1) : 0;
  const margin = Math.round(GAIN_Z * Math.sqrt(variance * n) * 10) / 10;
  const before = acceptedShare(live);
  const after = acceptedShare(candidate);
  const acceptanceFell = before !== null && after !== null && after < before - MAX_ACCEPTANCE_DROP;
  // The margin is never negative: a gain beyond it is a gain.
  const beyondNoise = gain > margin;
  const deploy = beyondNoise && !acceptanceFell;
  const pct = (share: number | null) => (share === null ? 'none shown' : `${Math.round(share * 100)}% of shown accepted`);
  const typed = `saved ${candidate.charsSaved} of ${candidate.charsTotal} characters typing ${n} held-out episodes, ${liveName} ${live.charsSaved}`;
  const gainText = `${gain >= 0 ? '+' : ''}${gain}`;
  let reason: string;
  if (deploy) reason = `${typed} (${gainText}, beyond the noise margin of ${margin}); ${pct(after)} (${liveName} ${pct(before)})`;
  else if (!beyondNoise) reason = `${typed} (${gainText}; going live needs more than +${margin})`;
  else reason = `${typed} (${gainText}), but ${pct(after)} against ${pct(before)} for ${liveName} (at most ${MAX_ACCEPTANCE_DROP * 100} points lower)`;
  return { deploy, gain, margin, reason };
}
