// Held-out evaluation: greedy rewrites of each episode's region, scored with exact match and
// edit similarity, beside the trivial baseline that leaves the region unchanged. A rewrite the
// model does not close with the end marker counts as the region unchanged: the editor shows
// nothing for it (suggest/edit-item.ts), so that is what the user ends up with.

import { Engine } from '../model/engine';
import { editSimilarity, exactMatch } from './reward';
import { defaultPromptLimits, editPrompt, PromptLimits, REGION_END, trimContext } from '../edits/prompt';
import { Episode } from '../edits/episode';

export interface EvalResult {
  n: number;
  exact_match: number;
  edit_similarity: number;
  /** Share of rewrites the model closed with the end marker (the others scored as unchanged). */
  finished: number;
  baseline: { exact_match: number; edit_similarity: number };
}

export async function evaluateEpisodes(
  engine: Engine,
  episodes: Episode[],
  maxTokens: number,
  onProgress?: (done: number) => void,
  limits: PromptLimits = defaultPromptLimits,
): Promise<EvalResult> {
  let em = 0;
  let es = 0;
  let baseEm = 0;
  let baseEs = 0;
  let finished = 0;
  for (const [i, episode] of episodes.entries()) {
    const [generation] = await engine.generate(editPrompt(trimContext(episode, limits)), { maxTokens, temperature: 0, stop: [REGION_END] });
    const closed = generation.finishReason === 'stop';
    if (closed) finished++;
    const prediction = closed ? generation.text : episode.region;
    em += exactMatch(prediction, episode.target);
    es += editSimilarity(prediction, episode.target);
    baseEm += exactMatch(episode.region, episode.target);
    baseEs += editSimilarity(episode.region, episode.target);
    onProgress?.(i + 1);
  }
  const n = episodes.length;
  return { n, exact_match: em / n, edit_similarity: es / n, finished: finished / n, baseline: { exact_match: baseEm / n, edit_similarity: baseEs / n } };
}
