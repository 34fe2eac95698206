// Whole-region evaluation (`gapo eval`, the benchmarks): for each episode, the serving
// pipeline's own stages (suggest/pipeline.ts: prompt, generate, item) make the greedy answer
// a user would be shown, and the region it leaves is scored with exact match and edit
// similarity beside the trivial baseline that leaves the region unchanged. An answer the
// pipeline would not show (unusable in its format, implausible, no change) leaves the region
// unchanged: that is what the user ends up with. The eval gate judges differently, by typing
// the episodes (gapo/gate.ts).

import type { Episode } from '../edits/episode';
import { defaultPromptLimits } from '../edits/prompt';
import { formatOf } from '../edits/prompt-format';
import type { Engine } from '../model/engine';
import { generateStage, promptStage, servingSettings } from '../suggest/pipeline';
import { suggestionFor } from '../suggest/edit-item';
import { editSimilarity, exactMatch } from './reward';
import type { PromptLimits } from '../protocol';

export interface EvalResult {
  n: number;
  exact_match: number;
  edit_similarity: number;
  /** Share of answers the pipeline would show (the others scored as unchanged). */
  finished: number;
  baseline: { exact_match: number; edit_similarity: number };
}

/** An episode as the pipeline's context: its prefix is an excerpt, not known to start at the file's top. */
export function episodeContext(episode: Episode) {
  const regionStart = episode.prefix.length;
  return { ...episode, regionStart, regionEnd: regionStart + episode.region.length, regionHoldsSecret: false, prefixFromTop: false };
}

export async function evaluateEpisodes(
  engine: Engine,
  episodes: Episode[],
  maxTokens: number,
  /** After each episode: how many are done, and the region the answer made (for comparing models' answers). */
  onProgress?: (done: number, prediction: string) => void,
  limits: PromptLimits = defaultPromptLimits,
  /** The confidence gate; none given: the format's own, as serving uses it. */
  minProbability?: number | null,
): Promise<EvalResult> {
  const format = formatOf(engine.info.promptFormat);
  const settings = servingSettings(format, limits, { maxTokens, minProbability: minProbability ?? null });
  const generator = { generate: (prompt: string, options: Parameters<Engine['generate']>[1]) => engine.generate(prompt, options) };
  const never = new AbortController().signal;
  let em = 0;
  let es = 0;
  let baseEm = 0;
  let baseEs = 0;
  let finished = 0;
  for (const [i, episode] of episodes.entries()) {
    const context = episodeContext(episode);
    const generation = await generateStage(generator, promptStage(context, settings), settings, never);
    const shown = suggestionFor(context, generation, format);
    if (shown) finished++;
    const prediction = shown?.rewritten ?? episode.region;
    em += exactMatch(prediction, episode.target);
    es += editSimilarity(prediction, episode.target);
    baseEm += exactMatch(episode.region, episode.target);
    baseEs += editSimilarity(episode.region, episode.target);
    onProgress?.(i + 1, prediction);
  }
  const n = episodes.length;
  return { n, exact_match: em / n, edit_similarity: es / n, finished: finished / n, baseline: { exact_match: baseEm / n, edit_similarity: baseEs / n } };
}
