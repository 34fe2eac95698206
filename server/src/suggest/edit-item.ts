// From the model's rewrite of the editable region back to something an editor can show:
// an insertion at the cursor becomes ghost text; any other change becomes an item that
// replaces whole lines (VS Code shows it where its inline-completion rules allow).

import type { Generation } from '../model/engine';
import { commonPrefixLength, commonSuffixLength } from '../edits/text';
import { insertionAtCursor, type PromptFormat } from '../edits/prompt-format';
import { implausibleInsertion } from '../edits/plausible';
import type { EditItem } from '../edits/suggestion';

/** The item for a rewrite of `region` (at `regionStart`, cursor at `cursor` inside it), or null for no change. */
export function editItem(region: string, rewritten: string, regionStart: number, cursor: number): EditItem | null {
  if (rewritten === region) return null;
  const inserted = insertionAtCursor({ region, cursor, target: rewritten });
  if (inserted !== null) {
    const at = regionStart + cursor;
    return { kind: 'insert', start: at, end: at, insertText: inserted };
  }
  const head = commonPrefixLength(region, rewritten);
  const tail = commonSuffixLength(region, rewritten, Math.min(region.length, rewritten.length) - head);
  // Widen the changed span to whole lines: replacing lines reads better than a mid-line splice.
  const lineStart = region.lastIndexOf('\n', head - 1) + 1;
  let lineEnd = region.indexOf('\n', region.length - tail);
  if (lineEnd < 0 || lineEnd < head) lineEnd = region.length;
  const keptAfter = region.length - lineEnd;
  return {
    kind: 'replace',
    start: regionStart + lineStart,
    end: regionStart + lineEnd,
    insertText: rewritten.slice(lineStart, rewritten.length - keptAfter),
  };
}

/**
 * What to show for a generation: nothing unless it is a usable answer in its format (a
 * rewrite closed by its end marker, an insertion) that changes the region and could be right
 * (edits/plausible.ts); otherwise the item and the rewritten region.
 */
export function suggestionFor(
  context: { prefix: string; region: string; suffix: string; regionStart: number; cursor: number; prefixFromTop: boolean },
  generation: Pick<Generation, 'text' | 'finishReason'>,
  format: PromptFormat,
): { item: EditItem; rewritten: string } | null {
  if (!format.usable(generation.finishReason)) return null;
  const rewritten = format.rewrite(context, generation.text);
  const item = editItem(context.region, rewritten, context.regionStart, context.cursor);
  if (!item || (item.kind === 'insert' && implausibleInsertion(context, item.insertText, context.prefixFromTop))) return null;
  return { item, rewritten };
}
