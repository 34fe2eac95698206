// Held-out evaluation: greedy answers for each episode, in the model's prompt format, turned
// into the rewritten region and scored with exact match and edit similarity, beside the
// trivial baseline that leaves the region unchanged. An answer the format cannot use (a
// rewrite the model did not close with the end marker) counts as the region unchanged: the
// editor shows nothing for it (suggest/edit-item.ts), so that is what the user ends up with.

import { Engine } from '../model/engine';
import { editSimilarity, exactMatch } from './reward';
import { defaultPromptLimits, PromptLimits, trimContext } from '../edits/prompt';
import { formatOf } from '../edits/prompt-format';
import { Episode } from '../edits/episode';

export interface EvalResult {
  n: number;
  exact_match: number;
  edit_similarity: number;
  /** Share of answers the format could use (the others scored as unchanged). */
  finished: number;
  baseline: { exact_match: number; edit_similarity: number };
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
  const gate = minProbability ?? format.defaultMinProbability;
  let em = 0;
  let es = 0;
  let baseEm = 0;
  let baseEs = 0;
  let finished = 0;
  for (const [i, episode] of episodes.entries()) {
    const [generation] = await engine.generate(format.prompt(trimContext(episode, limits)), { maxTokens, temperature: 0, stop: format.stop, minProbability: gate });
    const usable = format.usable(generation.finishReason);
    if (usable) finished++;
    const prediction = usable ? format.rewrite(episode, generation.text) : episode.region;
    em += exactMatch(prediction, episode.target);
    es += editSimilarity(prediction, episode.target);
    baseEm += exactMatch(episode.region, episode.target);
    baseEs += editSimilarity(episode.region, episode.target);
    onProgress?.(i + 1, prediction);
  }
  const n = episodes.length;
  return { n, exact_match: em / n, edit_similarity: es / n, finished: finished / n, baseline: { exact_match: baseEm / n, edit_similarity: baseEs / n } };
}
