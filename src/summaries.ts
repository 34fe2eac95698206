// What the extension says in few words (the status item, a notification), kept free of the
// vscode module so that unit tests can check it.

import type { AdapterEvaluation, GateVerdict, HeldOutTyping, RunResult, ServerStatus } from '../server/src/protocol';

export type ClientState = 'disabled' | 'starting' | 'running' | 'stopped';

/** The item's text and the tooltip's summary for a client state and the server's status. */
export function statusText(client: ClientState, s: ServerStatus | null): { text: string; summary: string; error: boolean } {
  if (client === 'disabled') return { text: '$(circle-slash) GAPO', summary: 'disabled (setting gapo.enable)', error: false };
  if (client === 'stopped') return { text: '$(error) GAPO', summary: 'the language server stopped (see the GAPO Assistant output; Restart Language Server starts it again)', error: true };
  if (client === 'starting' || !s) return { text: '$(sync~spin) GAPO', summary: 'starting the language server', error: false };
  if (s.modelState === 'loading') return { text: '$(loading~spin) GAPO', summary: `loading the model ${s.model ?? ''}`.trim(), error: false };
  if (s.modelState === 'failed') return { text: '$(error) GAPO: no model', summary: `the model failed to load: ${s.modelError ?? 'unknown error'}`, error: true };
  if (s.modelState === 'none') return { text: '$(circle-slash) GAPO: no model', summary: 'no model: edits are captured, nothing is suggested (GAPO: Choose Model)', error: false };
  if (s.training.state === 'training') return { text: `$(sync~spin) GAPO ${s.training.percentage ?? 0}%`, summary: `training: ${s.training.message ?? 'starting'}`, error: false };
  const version = `v${s.adapterVersion}`;
  if (s.learning === 'paused') return { text: `$(debug-pause) GAPO ${version}`, summary: 'learning paused: nothing is collected or trained (suggestions go on)', error: false };
  if (!s.suggestions.enabled) return { text: `$(eye-closed) GAPO ${version}`, summary: 'suggestions off (gapo.suggest.enable); learning goes on', error: false };
  return { text: `$(sparkle) GAPO ${version}`, summary: `ready: suggesting with adapter ${version}`, error: false };
}

/** A run's result in one line short enough for a notification (details are on the dashboard). */
export function runSummary(result: RunResult): string {
  if (!result.verdict) return `training ${result.status}${result.error ? `: ${result.error}` : ''}`;
  return `v${result.adapterVersion} ${result.status === 'deployed' ? 'live' : 'kept, not live'}: ${gateLine(result.verdict)}`;
}

/** The share of the edits' characters that accepted suggestions wrote. */
export const savedShare = (t: HeldOutTyping): number => (t.charsTotal ? t.charsSaved / t.charsTotal : 0);

/** How the eval gate judged an adapter, for the adapter picker and the dashboard's table. */
export function evaluationLine(e: AdapterEvaluation): string {
  const pct = (share: number) => `${(100 * share).toFixed(1)}%`;
  const accepted = e.candidate.shown ? `, ${Math.round((100 * e.candidate.accepted) / e.candidate.shown)}% of shown accepted` : '';
  return `typing ${e.candidate.episodes} held-out episodes: ${pct(savedShare(e.candidate))} of characters saved${accepted} (v${e.liveVersion}: ${pct(savedShare(e.live))})`;
}

/** The gate's decision in a few words: the characters the candidate saved beyond the live adapter, against the noise margin. */
export function gateLine({ deploy, gain, margin }: GateVerdict): string {
  const gained = `${gain >= 0 ? '+' : ''}${gain} characters`;
  if (deploy) return `${gained} (noise margin ${margin})`;
  return gain > 0 && gain > margin ? `${gained}, but fewer of shown accepted` : `${gained}, needed more than +${margin}`;
}
