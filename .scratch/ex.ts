import { readCorpusFiles } from '../server/src/pretrain/corpus-files';
import { finishLineExample, renameExample, unchangedExample } from '../server/src/pretrain/edit-data';
import { seededRandom } from '../server/src/edits/text';
import { editPrompt, trimContext, editCompletion } from '../server/src/edits/prompt';
const files = readCorpusFiles('.gapo/recipe/corpus/heldout.jsonl').filter((f) => /\.(m|c)?[jt]sx?$|\.py$/.test(f.path));
const r = seededRandom(Number(process.argv[2] ?? 1));
for (const make of [finishLineExample, renameExample, unchangedExample]) {
  let e = null; while (!e) e = make(files[Math.floor(r() * files.length)], r);
  console.log('=====', make.name, '\n' + editPrompt(trimContext(e, { contextLines: 3, historyDiffs: 2 })) + editCompletion(e));
}
