// Other files the user has open or edited, as chunks a prompt can carry: edits mostly reuse
// names already on screen, often from a neighbouring file (llama.vscode keeps a ring buffer of
// such chunks, Copilot reads the neighbouring tabs). The latest redacted text of the most
// recently seen files is kept in memory only; a request gets the chunks most like the lines at
// its cursor, from files other than its own.

import type { Snippet } from '../edits/episode';
import type { PromptLimits } from '../protocol';

/** Lines per chunk; chunks start every half chunk, so a block is whole in one of them. */
const CHUNK_LINES = 16;
const IDENTIFIER = /[A-Za-z_$][\w$]*/g;

const identifiers = (text: string) => new Set(text.match(IDENTIFIER) ?? []);

/** Jaccard similarity of two identifier sets. */
function similarity(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  let shared = 0;
  for (const word of a) if (b.has(word)) shared++;
  return shared / (a.size + b.size - shared);
}

export class NeighbourFiles {
  /** Path → its latest redacted text, least recently seen first. */
  private readonly files = new Map<string, string>();

  /** `limit` files at most; 0 keeps none (prompts carry no snippets), and reads no text. */
  constructor(private readonly limit = 16) {}

  /** A file's text as last seen (opened, saved or closed), redacted; read only when it is kept. */
  remember(path: string, text: () => string): void {
    if (this.limit === 0) return;
    this.files.delete(path);
    this.files.set(path, text());
    for (const oldest of this.files.keys()) {
      if (this.files.size <= this.limit) break;
      this.files.delete(oldest);
    }
  }

  /** Forgets a file (its data was deleted, or it is not captured any more); none named: every file. */
  forget(path?: string): void {
    if (path === undefined) this.files.clear();
    else this.files.delete(path);
  }

  /** Up to `count` chunks of files other than `path`, most like `query` first; none shares no name with it. */
  snippets(path: string, query: string, count: number): Snippet[] {
    if (count <= 0) return [];
    const wanted = identifiers(query);
    const scored: { path: string; text: string; score: number }[] = [];
    for (const [other, text] of this.files) {
      if (other === path) continue;
      const lines = text.split(/(?<=\n)/);
      for (let start = 0; start < Math.max(1, lines.length - CHUNK_LINES / 2); start += CHUNK_LINES / 2) {
        const chunk = lines.slice(start, start + CHUNK_LINES).join('');
        const score = similarity(wanted, identifiers(chunk));
        if (score > 0) scored.push({ path: other, text: chunk, score });
      }
    }
    scored.sort((a, b) => b.score - a.score);
    return scored.slice(0, count).map(({ path: from, text }) => ({ path: from, text }));
  }
}

/** The neighbours a prompt with these limits needs: none when it carries no snippets. */
export function neighbourFilesFor(prompt: PromptLimits): NeighbourFiles {
  return new NeighbourFiles((prompt.snippets ?? 0) > 0 ? 16 : 0);
}
