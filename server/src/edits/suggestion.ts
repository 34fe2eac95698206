// A suggestion as the editor shows it, and what became of it. One spelling for every layer:
// capture follows the state, the store keeps the outcomes, the rewards read them.

import type { OutcomeKind } from '../protocol';
import type { Span } from './text';

/** What the editor is given: an insertion at the cursor (ghost text) or whole lines replaced. */
export interface EditItem {
  kind: 'insert' | 'replace';
  /** Offsets in the document. */
  start: number;
  end: number;
  insertText: string;
}

/** One stored outcome of a suggestion. */
export interface Outcome {
  kind: OutcomeKind;
  time: number;
  /** Survival checks: seconds after the accept, and the share of accepted characters still there. */
  afterS: number | null;
  share: number | null;
}

/** A check not yet run, as the store keeps it. */
export interface PendingSurvivalCheck {
  suggestionId: string;
  uri: string;
  /** The accepted text, and where it stood when last known. */
  text: string;
  span: Span;
  afterS: number;
  /** When it is due (ms since the epoch). */
  due: number;
}
