import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseWords, completeCode, completeWord, formatCode, generateCode, normalizeCode, parseCode } from '../src/code/code.js';
import { EVEN_WORDS, ODD_WORDS } from '../src/code/wordlist.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { BackchannelError, BadCodeError } from '../src/errors.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches } from './helpers/branches.js';

const code = fc
  .record({
    nameplate: fc.nat({ max: 999_999 }).map(String),
    words: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 6 }),
  })
  .map(({ nameplate, words }) => ({ nameplate, words: words.map((b, i) => (i % 2 === 0 ? ODD_WORDS : EVEN_WORDS)[b]!) }));

describe('the PGP word list as magic-wormhole uses it', () => {
  it('has 256 distinct words per column, and the columns do not overlap', () => {
    expect(new Set(EVEN_WORDS).size).toBe(256);
    expect(new Set(ODD_WORDS).size).toBe(256);
    expect(EVEN_WORDS.filter((w) => ODD_WORDS.includes(w))).toEqual([]);
  });
  it('matches magic-wormhole: byte 0xA9 is "revenge"/"passenger", the reference code is valid', () => {
    expect(EVEN_WORDS[0xa9]).toBe('revenge');
    expect(ODD_WORDS[0xa9]).toBe('passenger');
    expect(parseCode('7-guitarist-revenge').words).toEqual(['guitarist', 'revenge']);
  });
});

describe('codes', () => {
  it('parse ∘ format = id', () => {
    fc.assert(
      fc.property(code, (c) => {
        const parsed = parseCode(formatCode(c));
        expect(parsed.nameplate).toBe(c.nameplate);
        expect(parsed.words).toEqual(c.words);
        expect(parsed.text).toBe(formatCode(c));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('normalises what people type: case, spaces, stray dashes', () => {
    expect(parseCode('  12 Swirl  Motor ', { checkWords: false }).text).toBe('12-swirl-motor');
    expect(parseCode('12--guitarist-revenge-', { words: 2 }).text).toBe('12-guitarist-revenge');
    expect(parseCode('7_GUITARIST.revenge').text).toBe('7-guitarist-revenge');
    fc.assert(
      fc.property(code, fc.array(fc.constantFrom(' ', '-', '  ', '--', '_'), { minLength: 1, maxLength: 8 }), (c, seps) => {
        const messy = ' ' + [c.nameplate, ...c.words.map((w) => w.toUpperCase())].map((p, i) => p + (seps[i % seps.length] ?? '-')).join('');
        expect(parseCode(messy).text).toBe(formatCode(c));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('says what is wrong with a bad code', () => {
    const reason = (input: string, opts = {}) => {
      try {
        parseCode(input, opts);
      } catch (e) {
        expect(e).toBeInstanceOf(BadCodeError);
        return (e as BadCodeError).data.reason;
      }
      return 'accepted';
    };
    expect(reason('')).toBe('empty');
    expect(reason('   -- ')).toBe('empty');
    expect(reason('swirl-motor')).toBe('nameplate');
    expect(reason('12')).toBe('no-words');
    expect(reason('12-guitarist', { words: 2 })).toBe('word-count');
    expect(reason('12-revenge-guitarist')).toBe('unknown-word');
    expect(reason('12-guitarst-revenge')).toBe('unknown-word');
    expect(reason('1'.repeat(300))).toBe('too-long');
    expect(() => parseCode('12-revenge-guitarist')).toThrow(/other position/);
    expect(() => parseCode('12-guitarst-revenge')).toThrow(/Did you mean "guitarist"/);
  });

  it('never throws anything but a typed error on garbage', () => {
    const outcomes = new Branches('parseCode on garbage', ['parsed', 'rejected typed'] as const);
    // Valid codes with one character changed sit next to garbage: both outcomes must be reached.
    const nearCode = fc.tuple(code, fc.nat(), fc.string({ maxLength: 1 })).map(([c, i, ch]) => {
      const text = formatCode(c);
      const at = i % (text.length + 1);
      return text.slice(0, at) + ch + text.slice(at + 1);
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.anything(), nearCode), fc.boolean(), (input, checkWords) => {
        try {
          parseCode(input as string, { checkWords });
          outcomes.hit('parsed');
        } catch (e) {
          expect(e).toBeInstanceOf(BackchannelError);
          outcomes.hit('rejected typed');
        }
      }),
      { numRuns: FC_RUNS * 5 },
    );
    outcomes.check();
  });

  it('generates codes with a CSPRNG that parse back, odd word first', () => {
    for (let i = 0; i < 50; i++) {
      const c = generateCode('5', cryptoRandomBytes);
      expect(parseCode(c.text, { words: 2 }).text).toBe(c.text);
      expect(ODD_WORDS).toContain(c.words[0]);
      expect(EVEN_WORDS).toContain(c.words[1]);
    }
    expect(chooseWords(() => Uint8Array.of(0xa9, 0xa9))).toEqual(['passenger', 'revenge']);
  });

  it('completes words as magic-wormhole does', () => {
    expect(completeWord('guitar', 0)).toEqual(['guitarist']);
    expect(completeWord('rev', 1)).toEqual(['revenge']);
    expect(completeCode('7-guitar')).toEqual(['7-guitarist-']);
    expect(completeCode('7-guitarist-rev')).toEqual(['7-guitarist-revenge']);
    expect(completeCode('7-guitarist-revenge-x')).toEqual([]);
    expect(completeCode('7')).toEqual([]);
    for (const w of completeCode('7-')) expect(parseCode(w + 'revenge').words[0]).toBeDefined();
  });

  it('normalizeCode is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(normalizeCode(normalizeCode(s))).toBe(normalizeCode(s));
      }),
      { numRuns: FC_RUNS },
    );
  });
});
