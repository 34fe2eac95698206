"use strict";

// server/src/pretrain/corpus-files.ts
var import_node_fs = require("node:fs");
var CorpusError = class extends Error {
};
function readCorpusFiles(file) {
  let text;
  try {
    text = (0, import_node_fs.readFileSync)(file, "utf8");
  } catch (error) {
    throw new CorpusError(`${file}: cannot read (${error.code ?? error}); gapo corpus --out DIR makes a corpus`);
  }
  return text.split("\n").filter((line) => line.trim()).map((line, i) => {
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CorpusError(`${file}:${i + 1}: not valid JSON`);
    }
    if (typeof value?.text !== "string") throw new CorpusError(`${file}:${i + 1}: a corpus line needs "text"`);
    return value;
  });
}

// node_modules/diff/libesm/diff/base.js
var Diff = class {
  diff(oldStr, newStr, options = {}) {
    let callback;
    if (typeof options === "function") {
      callback = options;
      options = {};
    } else if ("callback" in options) {
      callback = options.callback;
    }
    const oldString = this.castInput(oldStr, options);
    const newString = this.castInput(newStr, options);
    const oldTokens = this.removeEmpty(this.tokenize(oldString, options));
    const newTokens = this.removeEmpty(this.tokenize(newString, options));
    return this.diffWithOptionsObj(oldTokens, newTokens, options, callback);
  }
  diffWithOptionsObj(oldTokens, newTokens, options, callback) {
    var _a;
    const done = (value) => {
      value = this.postProcess(value, options);
      if (callback) {
        setTimeout(function() {
          callback(value);
        }, 0);
        return void 0;
      } else {
        return value;
      }
    };
    const newLen = newTokens.length, oldLen = oldTokens.length;
    let editLength = 1;
    let maxEditLength = newLen + oldLen;
    if (options.maxEditLength != null) {
      maxEditLength = Math.min(maxEditLength, options.maxEditLength);
    }
    const maxExecutionTime = (_a = options.timeout) !== null && _a !== void 0 ? _a : Infinity;
    const abortAfterTimestamp = Date.now() + maxExecutionTime;
    const bestPath = [{ oldPos: -1, lastComponent: void 0 }];
    let newPos = this.extractCommon(bestPath[0], newTokens, oldTokens, 0, options);
    if (bestPath[0].oldPos + 1 >= oldLen && newPos + 1 >= newLen) {
      return done(this.buildValues(bestPath[0].lastComponent, newTokens, oldTokens));
    }
    let minDiagonalToConsider = -Infinity, maxDiagonalToConsider = Infinity;
    const execEditLength = () => {
      for (let diagonalPath = Math.max(minDiagonalToConsider, -editLength); diagonalPath <= Math.min(maxDiagonalToConsider, editLength); diagonalPath += 2) {
        let basePath;
        const removePath = bestPath[diagonalPath - 1], addPath = bestPath[diagonalPath + 1];
        if (removePath) {
          bestPath[diagonalPath - 1] = void 0;
        }
        let canAdd = false;
        if (addPath) {
          const addPathNewPos = addPath.oldPos - diagonalPath;
          canAdd = addPath && 0 <= addPathNewPos && addPathNewPos < newLen;
        }
        const canRemove = removePath && removePath.oldPos + 1 < oldLen;
        if (!canAdd && !canRemove) {
          bestPath[diagonalPath] = void 0;
          continue;
        }
        if (!canRemove || canAdd && removePath.oldPos < addPath.oldPos) {
          basePath = this.addToPath(addPath, true, false, 0, options);
        } else {
          basePath = this.addToPath(removePath, false, true, 1, options);
        }
        newPos = this.extractCommon(basePath, newTokens, oldTokens, diagonalPath, options);
        if (basePath.oldPos + 1 >= oldLen && newPos + 1 >= newLen) {
          return done(this.buildValues(basePath.lastComponent, newTokens, oldTokens)) || true;
        } else {
          bestPath[diagonalPath] = basePath;
          if (basePath.oldPos + 1 >= oldLen) {
            maxDiagonalToConsider = Math.min(maxDiagonalToConsider, diagonalPath - 1);
          }
          if (newPos + 1 >= newLen) {
            minDiagonalToConsider = Math.max(minDiagonalToConsider, diagonalPath + 1);
          }
        }
      }
      editLength++;
    };
    if (callback) {
      (function exec() {
        setTimeout(function() {
          if (editLength > maxEditLength || Date.now() > abortAfterTimestamp) {
            return callback(void 0);
          }
          if (!execEditLength()) {
            exec();
          }
        }, 0);
      })();
    } else {
      while (editLength <= maxEditLength && Date.now() <= abortAfterTimestamp) {
        const ret = execEditLength();
        if (ret) {
          return ret;
        }
      }
    }
  }
  addToPath(path, added, removed, oldPosInc, options) {
    const last = path.lastComponent;
    if (last && !options.oneChangePerToken && last.added === added && last.removed === removed) {
      return {
        oldPos: path.oldPos + oldPosInc,
        lastComponent: { count: last.count + 1, added, removed, previousComponent: last.previousComponent }
      };
    } else {
      return {
        oldPos: path.oldPos + oldPosInc,
        lastComponent: { count: 1, added, removed, previousComponent: last }
      };
    }
  }
  extractCommon(basePath, newTokens, oldTokens, diagonalPath, options) {
    const newLen = newTokens.length, oldLen = oldTokens.length;
    let oldPos = basePath.oldPos, newPos = oldPos - diagonalPath, commonCount = 0;
    while (newPos + 1 < newLen && oldPos + 1 < oldLen && this.equals(oldTokens[oldPos + 1], newTokens[newPos + 1], options)) {
      newPos++;
      oldPos++;
      commonCount++;
      if (options.oneChangePerToken) {
        basePath.lastComponent = { count: 1, previousComponent: basePath.lastComponent, added: false, removed: false };
      }
    }
    if (commonCount && !options.oneChangePerToken) {
      basePath.lastComponent = { count: commonCount, previousComponent: basePath.lastComponent, added: false, removed: false };
    }
    basePath.oldPos = oldPos;
    return newPos;
  }
  equals(left, right, options) {
    if (options.comparator) {
      return options.comparator(left, right);
    } else {
      return left === right || !!options.ignoreCase && left.toLowerCase() === right.toLowerCase();
    }
  }
  removeEmpty(array) {
    const ret = [];
    for (let i = 0; i < array.length; i++) {
      if (array[i]) {
        ret.push(array[i]);
      }
    }
    return ret;
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  castInput(value, options) {
    return value;
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  tokenize(value, options) {
    return Array.from(value);
  }
  join(chars) {
    return chars.join("");
  }
  postProcess(changeObjects, options) {
    return changeObjects;
  }
  get useLongestToken() {
    return false;
  }
  buildValues(lastComponent, newTokens, oldTokens) {
    const components = [];
    let nextComponent;
    while (lastComponent) {
      components.push(lastComponent);
      nextComponent = lastComponent.previousComponent;
      delete lastComponent.previousComponent;
      lastComponent = nextComponent;
    }
    components.reverse();
    const componentLen = components.length;
    let componentPos = 0, newPos = 0, oldPos = 0;
    for (; componentPos < componentLen; componentPos++) {
      const component = components[componentPos];
      if (!component.removed) {
        if (!component.added && this.useLongestToken) {
          let value = newTokens.slice(newPos, newPos + component.count);
          value = value.map(function(value2, i) {
            const oldValue = oldTokens[oldPos + i];
            return oldValue.length > value2.length ? oldValue : value2;
          });
          component.value = this.join(value);
        } else {
          component.value = this.join(newTokens.slice(newPos, newPos + component.count));
        }
        newPos += component.count;
        if (!component.added) {
          oldPos += component.count;
        }
      } else {
        component.value = this.join(oldTokens.slice(oldPos, oldPos + component.count));
        oldPos += component.count;
      }
    }
    return components;
  }
};

// node_modules/diff/libesm/diff/line.js
var LineDiff = class extends Diff {
  constructor() {
    super(...arguments);
    this.tokenize = tokenize;
  }
  equals(left, right, options) {
    if (options.ignoreWhitespace) {
      if (!options.newlineIsToken || !left.includes("\n")) {
        left = left.trim();
      }
      if (!options.newlineIsToken || !right.includes("\n")) {
        right = right.trim();
      }
    } else if (options.ignoreNewlineAtEof && !options.newlineIsToken) {
      if (left.endsWith("\n")) {
        left = left.slice(0, -1);
      }
      if (right.endsWith("\n")) {
        right = right.slice(0, -1);
      }
    }
    return super.equals(left, right, options);
  }
};
var lineDiff = new LineDiff();
function diffLines(oldStr, newStr, options) {
  return lineDiff.diff(oldStr, newStr, options);
}
function tokenize(value, options) {
  if (options.stripTrailingCr) {
    value = value.replace(/\r\n/g, "\n");
  }
  const retLines = [], linesAndNewlines = value.split(/(\n|\r\n)/);
  if (!linesAndNewlines[linesAndNewlines.length - 1]) {
    linesAndNewlines.pop();
  }
  for (let i = 0; i < linesAndNewlines.length; i++) {
    const line = linesAndNewlines[i];
    if (i % 2 && !options.newlineIsToken) {
      retLines[retLines.length - 1] += line;
    } else {
      retLines.push(line);
    }
  }
  return retLines;
}

// node_modules/diff/libesm/patch/create.js
function structuredPatch(oldFileName, newFileName, oldStr, newStr, oldHeader, newHeader, options) {
  let optionsObj;
  if (!options) {
    optionsObj = {};
  } else if (typeof options === "function") {
    optionsObj = { callback: options };
  } else {
    optionsObj = options;
  }
  if (typeof optionsObj.context === "undefined") {
    optionsObj.context = 4;
  }
  const context = optionsObj.context;
  if (optionsObj.newlineIsToken) {
    throw new Error("newlineIsToken may not be used with patch-generation functions, only with diffing functions");
  }
  if (!optionsObj.callback) {
    return diffLinesResultToPatch(diffLines(oldStr, newStr, optionsObj));
  } else {
    const { callback } = optionsObj;
    diffLines(oldStr, newStr, Object.assign(Object.assign({}, optionsObj), { callback: (diff) => {
      const patch = diffLinesResultToPatch(diff);
      callback(patch);
    } }));
  }
  function diffLinesResultToPatch(diff) {
    if (!diff) {
      return;
    }
    diff.push({ value: "", lines: [] });
    function contextLines(lines) {
      return lines.map(function(entry) {
        return " " + entry;
      });
    }
    const hunks = [];
    let oldRangeStart = 0, newRangeStart = 0, curRange = [], oldLine = 1, newLine = 1;
    for (let i = 0; i < diff.length; i++) {
      const current = diff[i], lines = current.lines || splitLines(current.value);
      current.lines = lines;
      if (current.added || current.removed) {
        if (!oldRangeStart) {
          const prev = diff[i - 1];
          oldRangeStart = oldLine;
          newRangeStart = newLine;
          if (prev) {
            curRange = context > 0 ? contextLines(prev.lines.slice(-context)) : [];
            oldRangeStart -= curRange.length;
            newRangeStart -= curRange.length;
          }
        }
        for (const line of lines) {
          curRange.push((current.added ? "+" : "-") + line);
        }
        if (current.added) {
          newLine += lines.length;
        } else {
          oldLine += lines.length;
        }
      } else {
        if (oldRangeStart) {
          if (lines.length <= context * 2 && i < diff.length - 2) {
            for (const line of contextLines(lines)) {
              curRange.push(line);
            }
          } else {
            const contextSize = Math.min(lines.length, context);
            for (const line of contextLines(lines.slice(0, contextSize))) {
              curRange.push(line);
            }
            const hunk = {
              oldStart: oldRangeStart,
              oldLines: oldLine - oldRangeStart + contextSize,
              newStart: newRangeStart,
              newLines: newLine - newRangeStart + contextSize,
              lines: curRange
            };
            hunks.push(hunk);
            oldRangeStart = 0;
            newRangeStart = 0;
            curRange = [];
          }
        }
        oldLine += lines.length;
        newLine += lines.length;
      }
    }
    for (const hunk of hunks) {
      for (let i = 0; i < hunk.lines.length; i++) {
        if (hunk.lines[i].endsWith("\n")) {
          hunk.lines[i] = hunk.lines[i].slice(0, -1);
        } else {
          hunk.lines.splice(i + 1, 0, "\\ No newline at end of file");
          i++;
        }
      }
    }
    return {
      oldFileName,
      newFileName,
      oldHeader,
      newHeader,
      hunks
    };
  }
}
function splitLines(text) {
  const hasTrailingNl = text.endsWith("\n");
  const result = text.split("\n").map((line) => line + "\n");
  if (hasTrailingNl) {
    result.pop();
  } else {
    result.push(result.pop().slice(0, -1));
  }
  return result;
}

// server/src/edits/text.ts
function splitLines2(text) {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = state + 1831565813 >>> 0;
    let t = state;
    t = Math.imul(t ^ t >>> 15, t | 1);
    t ^= t + Math.imul(t ^ t >>> 7, t | 61);
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

// server/src/capture/edit-episodes.ts
function unifiedDiff(path, before, after, context = 0) {
  const patch = structuredPatch(path, path, before, after, void 0, void 0, { context });
  return patch.hunks.map((hunk) => formatHunk(path, hunk)).join("");
}
function formatHunk(path, hunk) {
  return `--- a/${path}
+++ b/${path}
@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@
${hunk.lines.join("\n")}
`;
}

// server/src/edits/prompt.ts
var REGION_START = "<|editable_region_start|>";
var REGION_END = "<|editable_region_end|>";
var CURSOR = "<|user_cursor_is_here|>";
function editPrompt(episode) {
  const history = episode.history.length ? episode.history.join("\n") : "(none)\n";
  const region = episode.region.slice(0, episode.cursor) + CURSOR + episode.region.slice(episode.cursor);
  return `### Recent edits
${history}
### File: ${episode.path}
${episode.prefix}${REGION_START}
${region}${REGION_END}
${episode.suffix}
### Rewritten editable region
${REGION_START}
`;
}
function trimContext(episode, limits) {
  const prefixLines = splitLines2(episode.prefix);
  const suffixLines = splitLines2(episode.suffix);
  return {
    ...episode,
    history: limits.historyDiffs > 0 ? episode.history.slice(-limits.historyDiffs) : [],
    prefix: prefixLines.slice(Math.max(0, prefixLines.length - limits.contextLines)).join(""),
    suffix: suffixLines.slice(0, limits.contextLines).join("")
  };
}
function editCompletion(episode) {
  return `${episode.target}${REGION_END}`;
}

// server/src/pretrain/edit-data.ts
var REGION_RADIUS = 2;
var EXCERPT = 40;
var pick = (items, random) => items[Math.floor(random() * items.length)];
var between = (low, high, random) => low + Math.floor(random() * (high - low + 1));
function around(file, lines, cursorLine, region, cursor, target, history) {
  const first = Math.max(0, cursorLine - REGION_RADIUS);
  const end = Math.min(lines.length, cursorLine + REGION_RADIUS + 1);
  return {
    id: "",
    language: "plaintext",
    path: file.path,
    history,
    prefix: lines.slice(Math.max(0, first - EXCERPT), first).join(""),
    region,
    suffix: lines.slice(end, end + EXCERPT).join(""),
    cursor,
    target
  };
}
function codeLines(file) {
  const lines = splitLines2(file.text);
  if (lines.length && !lines[lines.length - 1].endsWith("\n")) lines[lines.length - 1] += "\n";
  return lines;
}
function finishLineExample(file, random) {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = Math.floor(random() * lines.length);
    const line = lines[i].slice(0, -1);
    const indent = line.length - line.trimStart().length;
    if (line.trim().length < 6) continue;
    const boundaries = [...line.matchAll(/\b/g)].map((m) => m.index).filter((at) => at > indent && at < line.length);
    const mode = random();
    const cut = mode < 0.2 ? between(0, indent, random) : boundaries.length && mode < 0.65 ? pick(boundaries, random) : between(indent + 1, line.length - 1, random);
    const first = Math.max(0, i - REGION_RADIUS);
    const end = Math.min(lines.length, i + REGION_RADIUS + 1);
    const target = lines.slice(first, end).join("");
    const before = lines.slice(first, i).join("");
    const region = before + line.slice(0, cut) + "\n" + lines.slice(i + 1, end).join("");
    return around(file, lines, i, region, before.length + cut, target, []);
  }
  return null;
}
var IDENTIFIER = /\b[A-Za-z_][A-Za-z0-9_]{2,}\b/g;
var KEYWORDS = new Set("const let var function return class import export from this self def elif else if for while with async await new typeof null true false None True False none not and or in is pass yield lambda try catch finally except raise throw".split(" "));
function renamed(name, random) {
  const words = ["value", "item", "result", "count", "options", "config", "data", "list", "entry", "node", "key", "index", "name", "path", "text"];
  const word = pick(words, random);
  const capital = word[0].toUpperCase() + word.slice(1);
  const snake = name.includes("_") || name === name.toLowerCase();
  switch (between(0, 2, random)) {
    case 0:
      return snake ? `${name}_${word}` : `${name}${capital}`;
    case 1:
      return snake ? `${word}_${name}` : `${word}${name[0].toUpperCase()}${name.slice(1)}`;
    default:
      return word === name ? `${word}s` : word;
  }
}
function renameExample(file, random) {
  const lines = codeLines(file);
  for (let attempt = 0; attempt < 8; attempt++) {
    const i = between(3, Math.max(3, lines.length - 3), random);
    if (i >= lines.length) return null;
    const first = Math.max(0, i - REGION_RADIUS);
    const end = Math.min(lines.length, i + REGION_RADIUS + 1);
    const region = lines.slice(first, end).join("");
    const names = [...new Set([...region.matchAll(IDENTIFIER)].map((m) => m[0]))].filter((n) => !KEYWORDS.has(n));
    if (names.length === 0) continue;
    const name = pick(names, random);
    const word = new RegExp(`\\b${name}\\b`, "g");
    const has = new RegExp(`\\b${name}\\b`);
    let edited = first - 1;
    while (edited >= Math.max(0, first - 20) && !has.test(lines[edited])) edited--;
    if (edited < Math.max(0, first - 20)) continue;
    const next = renamed(name, random);
    const before = lines.join("");
    const after = [...lines.slice(0, edited), lines[edited].replace(word, next), ...lines.slice(edited + 1)];
    const history = [unifiedDiff(file.path, before, after.join(""))];
    const target = region.replace(word, next);
    const episode = around(file, after, i, region, between(0, region.length, random), target, history);
    return episode;
  }
  return null;
}
function unchangedExample(file, random) {
  const lines = codeLines(file);
  if (lines.length < 3) return null;
  const i = Math.floor(random() * lines.length);
  const first = Math.max(0, i - REGION_RADIUS);
  const region = lines.slice(first, Math.min(lines.length, i + REGION_RADIUS + 1)).join("");
  if (!region.trim()) return null;
  const ends = [...region.matchAll(/\n/g)].map((m) => m.index);
  return around(file, lines, i, region, pick(ends, random), region, []);
}

// .scratch/ex.ts
var files = readCorpusFiles(".gapo/recipe/corpus/heldout.jsonl").filter((f) => /\.(m|c)?[jt]sx?$|\.py$/.test(f.path));
var r = seededRandom(Number(process.argv[2] ?? 1));
for (const make of [finishLineExample, renameExample, unchangedExample]) {
  let e = null;
  while (!e) e = make(files[Math.floor(r() * files.length)], r);
  console.log("=====", make.name, "\n" + editPrompt(trimContext(e, { contextLines: 3, historyDiffs: 2 })) + editCompletion(e));
}
