import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  editAndExactMatch,
  editSimilarity,
  exactMatch,
  metrics,
  sentenceBleu,
} from '../../server/src/gapo/reward';

describe('exact match', () => {
  it('ignores white space at both ends only', () => {
    assert.equal(exactMatch('  return x;\n\n', 'return x;'), 1);
    assert.equal(exactMatch('return  x;', 'return x;'), 0);
  });

  it('treats CRLF and LF alike', () => {
    assert.equal(exactMatch('a\r\nb\r\n', 'a\nb\n'), 1);
    assert.equal(exactMatch('a\rb', 'a\nb'), 1);
  });

  it('handles empty strings', () => {
    assert.equal(exactMatch('', ''), 1);
    assert.equal(exactMatch('\n  ', ''), 1);
    assert.equal(exactMatch('', 'x'), 0);
  });
});

describe('edit similarity', () => {
  it('is 1 − Levenshtein / longer length', () => {
    assert.equal(editSimilarity('kitten', 'sitting'), 1 - 3 / 7);
    assert.equal(editSimilarity('same', 'same'), 1);
    assert.equal(editSimilarity('abc', 'xyz'), 0);
  });

  it('is 1 for two empty strings and 0 against an empty one', () => {
    assert.equal(editSimilarity('', ''), 1);
    assert.equal(editSimilarity('', 'abc'), 0);
    assert.equal(editSimilarity('abc', ''), 0);
  });

  it('treats CRLF and LF alike', () => {
    assert.equal(editSimilarity('a\r\nb\r\nc', 'a\nb\nc'), 1);
    assert.equal(editSimilarity('a\r\nX', 'a\nY'), 1 - 1 / 3);
  });

  it('counts unicode characters, not UTF-16 units', () => {
    assert.equal(editSimilarity('héllo', 'hello'), 1 - 1 / 5);
    // Each emoji is two UTF-16 units; counted as characters the distance is 1 of 2.
    assert.equal(editSimilarity('😀a', '😃a'), 0.5);
    assert.equal(editSimilarity('x = "日本語"', 'x = "日本"'), 1 - 1 / 9);
    assert.equal(editSimilarity('𝔘𝔫𝔦', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'), 1 - 4 / 7);
  });
});

describe('edem', () => {
  it('is the mean of exact match and edit similarity', () => {
    assert.equal(editAndExactMatch('x', 'x'), 1);
    assert.equal(editAndExactMatch('kitten', 'sitting'), (0 + (1 - 3 / 7)) / 2);
    // White space at the ends does not break exact match but does cost edit similarity.
    assert.ok(Math.abs(editAndExactMatch('ab ', 'ab') - (1 + 2 / 3) / 2) < 1e-15);
  });
});

describe('sentence BLEU', () => {
  // Reference values printed by NLTK 3.8's sentence_bleu(references=[target.split()],
  // hypothesis=prediction.split(), smoothing_function=SmoothingFunction().method1).
  const nltk: [string, string, number][] = [
    ['a b c d', 'a b c e', 0.3976353643835253],
    ['const x = foo(bar, baz);', 'const x = foo(bar, qux);', 0.668740304976422],
    ['return a + b', 'return a + b;\n}', 0.3096787331587729],
    ['x', 'y', 0],
    ['if (a) {\n  b();\n}', 'if (a) {\n  b();\n}', 1],
    ['foo bar', 'foo bar baz qux quux', 0.07055995207471726],
    ['the the the the', 'the cat', 0.08034284189446518],
    ['', 'x', 0],
    ['héllo wörld 😀 ok', 'héllo wörld 😀 ok!', 0.3976353643835253],
    // Fewer than 4 tokens: the missing n-gram orders are smoothed to 0.1, even for a match.
    ['x', 'x', 0.1778279410038923],
  ];
  for (const [prediction, target, expected] of nltk) {
    it(`matches NLTK for ${JSON.stringify(prediction)} against ${JSON.stringify(target)}`, () => {
      assert.ok(Math.abs(sentenceBleu(prediction, target) - expected) < 1e-12);
    });
  }

  it('gives 1 for two empty texts and ignores line-ending style', () => {
    assert.equal(sentenceBleu('', ''), 1);
    assert.equal(sentenceBleu('if (a) {\r\n  b();\r\n}', 'if (a) {\n  b();\n}'), 1);
  });
});

describe('every metric', () => {
  it('stays in [0, 1] and gives 1 for identical text', () => {
    assert.deepEqual(Object.keys(metrics).sort(), ['bleu', 'edem', 'edit', 'em'], 'the registry holds every metric');
    for (const [name, metric] of Object.entries(metrics)) {
      // (BLEU reaches 1 only from 4 tokens on, see above.)
      for (const text of ['', 'fn main ( ) {}\n', 'a\r\nb c d', '😀 𝔘 日本 ok']) {
        assert.equal(metric(text, text), 1, `${name} of ${JSON.stringify(text)}`);
      }
      const score = metric('function a() {}', 'const b = 1;');
      assert.ok(score >= 0 && score <= 1, `${name} gave ${score}`);
    }
  });
});

describe('edge cases of the metrics', () => {
  it('gives BLEU 0 for a prediction against an empty target, and keeps n-grams apart by their spaces', () => {
    assert.equal(sentenceBleu('a b c d', ''), 0);
    // Bigrams "ab c" and "a bc" differ; joined without the space they would match.
    const expected = Math.exp((Math.log(2 / 4) + Math.log(1 / 3) + Math.log(0.1 / 2) + Math.log(0.1 / 1)) / 4);
    assert.ok(Math.abs(sentenceBleu('ab c d e', 'a bc d e') - expected) < 1e-12);
  });

  it('counts characters when only one side has a surrogate pair, and refuses texts with over 65535 distinct characters', () => {
    assert.equal(editSimilarity('a😀', 'ab'), 0.5);
    assert.equal(editSimilarity('ab', 'a😀'), 0.5);
    const many = Array.from({ length: 70_000 }, (_, i) => String.fromCodePoint(0x10000 + i)).join('');
    assert.throws(() => editSimilarity(many, 'x😀'), /too many distinct characters to compare/);
  });
});
