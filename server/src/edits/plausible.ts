// Insertions that cannot be right, whatever the user meant: shown, they cost a look and, taken
// by a fast Tab, a repair; recorded, they teach nothing. The suggestion pipeline drops them.

/**
 * Why an insertion at the cursor cannot be right, or null when it may be. `fromFileStart`: the
 * context's prefix starts at the top of the file (a prompt's prefix is a window of lines, and a
 * bracket opened above it is not seen).
 */
export function implausibleInsertion(context: { prefix: string; region: string; suffix: string; cursor: number }, insertion: string, fromFileStart: boolean): string | null {
  const before = context.prefix + context.region.slice(0, context.cursor);
  // White space alone: after Enter an editor has indented the line already, and spaces after
  // code on its line are nothing to type. (A line break with the next line's indentation, or
  // the indentation of a line nothing indented, is what a user types where no editor indents.)
  const linePrefix = before.slice(before.lastIndexOf('\n') + 1);
  if (insertion.trim() === '' && linePrefix !== '' && (linePrefix.trim() === '' || !insertion.includes('\n'))) return 'only white space';
  const after = context.region.slice(context.cursor) + context.suffix;
  if (closesWhatIsNotOpen(before, insertion, fromFileStart)) return 'closes a bracket that is not open';
  if (repeatsNextLine(linePrefix, insertion, after)) return 'repeats the next line';
  return null;
}

const CLOSERS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const OPENERS = new Set(Object.values(CLOSERS));

/**
 * The insertion closes the wrong bracket (`)` where `{` is open), or, when `before` starts at the
 * top of the file, one that nothing opened (a window of lines may not hold its opener). Strings
 * and line comments are skipped on the way, roughly: a quote opens a string to the same quote
 * on its line, `//` and `#` end the line.
 */
function closesWhatIsNotOpen(before: string, insertion: string, fromFileStart: boolean): boolean {
  const open: string[] = [];
  let wrong = false;
  scanBrackets(before, (bracket) => {
    if (OPENERS.has(bracket)) open.push(bracket);
    // An unmatched closer before the cursor (code the scan misread): stay out of judging.
    else if (open.at(-1) === CLOSERS[bracket]) open.pop();
  });
  scanBrackets(insertion, (bracket) => {
    if (wrong) return;
    if (OPENERS.has(bracket)) open.push(bracket);
    else if (open.length > 0 ? open.pop() !== CLOSERS[bracket] : fromFileStart) wrong = true;
  });
  return wrong;
}

function scanBrackets(text: string, visit: (bracket: string) => void): void {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote || c === '\n') quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ((c === '/' && text[i + 1] === '/') || c === '#') {
      const end = text.indexOf('\n', i);
      if (end < 0) return;
      i = end;
    } else if (c in CLOSERS || OPENERS.has(c)) visit(c);
  }
}

/**
 * The insertion ends a line that reads as the next line already does (the model wrote the line
 * that follows again): the cursor's line as it would be, or a whole line the insertion adds.
 */
function repeatsNextLine(linePrefix: string, insertion: string, after: string): boolean {
  const [restOfLine, ...followingLines] = after.split('\n');
  const next = followingLines.find((line) => line.trim() !== '')?.trim();
  if (!next) return false;
  const written = (linePrefix + insertion + restOfLine).split('\n').map((line) => line.trim());
  // The lines the insertion completes: all of them when it breaks the line, else the cursor's.
  // Lines of brackets alone (`});` twice) are often repeated on purpose; a line with a word is not.
  return written.some((line, i) => line === next && /\w/.test(line) && (i > 0 || restOfLine.trim() === '' || insertion.includes('\n')));
}
