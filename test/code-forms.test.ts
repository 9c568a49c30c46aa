/** A code as words, digits and a redeem link, and the one parser that takes them all. */
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCode, parseCode } from '../src/code/code.js';
import { dammDigit, dammValid } from '../src/code/checkDigit.js';
import { codeToDigits, parseDigits } from '../src/code/digits.js';
import { redeemLink } from '../src/code/link.js';
import { parseAnyCode } from '../src/code/anyCode.js';
import { EVEN_WORDS, ODD_WORDS } from '../src/code/wordlist.js';
import { BackchannelError, BadCodeError, InvalidArgumentError } from '../src/errors.js';
import { Branches } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

/**
 * Worked out from magic-wormhole's own word list (wormhole/_wordlist.py, byte → [even, odd]) and
 * Damm's table, outside this code base: byte 0x69 is guitarist (odd column), 0xA9 revenge (even column).
 */
const VECTORS = [
  { words: '7-guitarist-revenge', digits: '7-105-169-9' },
  { words: '12-adroitness-aardvark', digits: '12-000-000-2' },
  { words: '999-yucatan-zulu', digits: '999-255-255-0' },
  { words: '1-passenger-gazelle', digits: '1-169-105-8' },
  { words: '4096-adviser-accrue-aggregate', digits: '4096-001-002-003-4' },
];

const codeArb = (minWords = 1, maxWords = 6) =>
  fc
    .record({
      nameplate: fc.nat({ max: 999_999 }).map(String),
      bytes: fc.array(fc.nat({ max: 255 }), { minLength: minWords, maxLength: maxWords }),
    })
    .map(({ nameplate, bytes }) => ({ nameplate, words: bytes.map((b, i) => (i % 2 === 0 ? ODD_WORDS : EVEN_WORDS)[b]!) }));

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BadCodeError);
    return (e as BadCodeError).data.reason as string;
  }
  return 'accepted';
}

describe("the digit form's byte numbers", () => {
  it("are magic-wormhole's: every word sits at its byte in wormhole/_wordlist.py, in the column it uses there", () => {
    const source = '/usr/lib/python3/dist-packages/wormhole/_wordlist.py'; // Debian's magic-wormhole, as in the interop tests
    if (!existsSync(source)) throw new Error(`${source} is missing: run scripts/install-system-deps.sh first`);
    const rows = [...readFileSync(source, 'utf8').matchAll(/'([0-9A-F]{2})': \['(\w+)', '(\w+)'\]/g)];
    expect(rows).toHaveLength(256);
    for (const [, hex, even, odd] of rows) {
      const byte = parseInt(hex!, 16);
      expect(EVEN_WORDS[byte], hex).toBe(even!.toLowerCase());
      expect(ODD_WORDS[byte], hex).toBe(odd!.toLowerCase());
    }
  });
});

describe('the Damm check digit', () => {
  it('matches the published example: 572 → 4, and 5724 checks', () => {
    expect(dammDigit('572')).toBe('4');
    expect(dammValid('5724')).toBe(true);
    expect(dammValid('5723')).toBe(false);
    expect(dammValid('')).toBe(false);
  });

  it('catches every single wrong digit and every swap of two different neighbours', () => {
    const mistakes = new Branches('Damm mistakes', ['wrong digit', 'swapped neighbours'] as const);
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 2, maxLength: 12 }),
        fc.nat(),
        fc.integer({ min: 1, max: 9 }),
        (body, at, delta) => {
          const valid = body + dammDigit(body);
          const i = at % valid.length;
          const changed = String((Number(valid[i]) + delta) % 10);
          expect(dammValid(valid.slice(0, i) + changed + valid.slice(i + 1))).toBe(false);
          mistakes.hit('wrong digit');
          const j = at % (valid.length - 1);
          if (valid[j] !== valid[j + 1]) {
            expect(dammValid(valid.slice(0, j) + valid[j + 1] + valid[j] + valid.slice(j + 2))).toBe(false);
            mistakes.hit('swapped neighbours');
          }
        },
      ),
      { numRuns: FC_RUNS },
    );
    mistakes.check();
  });
});

describe('codes as digits', () => {
  it.each(VECTORS)('$words ⇄ $digits', ({ words, digits }) => {
    const count = words.split('-').length - 1;
    expect(codeToDigits(words)).toBe(digits);
    expect(codeToDigits(parseCode(words))).toBe(digits);
    expect(parseDigits(digits, { words: count }).text).toBe(words);
    // Separators are for reading only: none, spaces, a keypad's * and #, dots.
    for (const sep of ['', ' ', '*', '#', '.', ' - ']) {
      expect(parseDigits(digits.replaceAll('-', sep), { words: count }).text).toBe(words);
    }
  });

  it('words → digits → words is the identity', () => {
    fc.assert(
      fc.property(codeArb(), (c) => {
        const digits = codeToDigits(formatCode(c));
        expect(digits).toMatch(/^\d+(-\d{3})+-\d$/);
        expect(parseDigits(digits, { words: c.words.length }).text).toBe(formatCode(c));
        expect(parseDigits(digits.replaceAll('-', ''), { words: c.words.length }).text).toBe(formatCode(c));
      }),
      { numRuns: FC_RUNS },
    );
  });

  it('a mistyped digit or two swapped digits never pass as another code', () => {
    const mistakes = new Branches('digit-code mistakes', ['wrong digit', 'swapped neighbours'] as const);
    fc.assert(
      fc.property(codeArb(2, 2), fc.nat(), fc.integer({ min: 1, max: 9 }), fc.boolean(), (c, at, delta, swap) => {
        const digits = codeToDigits(formatCode(c)).replaceAll('-', '');
        let typo: string;
        if (swap) {
          const j = at % (digits.length - 1);
          if (digits[j] === digits[j + 1]) return; // the same digits: nothing changed
          typo = digits.slice(0, j) + digits[j + 1] + digits[j] + digits.slice(j + 2);
          mistakes.hit('swapped neighbours');
        } else {
          const i = at % digits.length;
          typo = digits.slice(0, i) + String((Number(digits[i]) + delta) % 10) + digits.slice(i + 1);
          mistakes.hit('wrong digit');
        }
        expect(reason(() => parseDigits(typo))).toBe('check-digit');
      }),
      { numRuns: FC_RUNS },
    );
    mistakes.check();
  });

  it('says what is wrong with bad digits', () => {
    expect(reason(() => parseDigits(''))).toBe('empty');
    expect(reason(() => parseDigits(' - '))).toBe('empty');
    expect(reason(() => parseDigits('1'.repeat(300)))).toBe('too-long');
    expect(reason(() => parseDigits('7-105-abc-9'))).toBe('not-digits');
    expect(reason(() => parseDigits('7-105-9'))).toBe('digit-count');
    expect(reason(() => parseDigits('1051699'))).toBe('digit-count'); // no nameplate left
    expect(reason(() => parseDigits('7-105-169-8'))).toBe('check-digit');
    const outOfRange = `7300169${dammDigit('7300169')}`; // passes the check, but 300 is no byte
    expect(reason(() => parseDigits(outOfRange))).toBe('digit-range');
    expect(reason(() => parseDigits('7-105-169-9', { words: 3 }))).toBe('digit-count');
    expect(() => parseDigits('7-105-169-8')).toThrow(/one is wrong or two were swapped/);
    expect(() => codeToDigits('7-revenge-guitarist')).toThrow(BadCodeError); // only PGP words have numbers
  });
});

describe('redeem links', () => {
  it.each([
    ['https://example.com/pair', 'https://example.com/pair#7-guitarist-revenge'],
    ['https://example.com/app?lang=de', 'https://example.com/app?lang=de#7-guitarist-revenge'],
    ['https://example.com', 'https://example.com/#7-guitarist-revenge'],
    ['myapp:pair', 'myapp:pair#7-guitarist-revenge'],
    ['backchannel://pair', 'backchannel://pair#7-guitarist-revenge'],
  ])('on %s', (base, link) => {
    expect(redeemLink('7 Guitarist revenge', base)).toBe(link);
    expect(redeemLink(parseCode('7-guitarist-revenge'), base)).toBe(link);
    expect(parseAnyCode(link).text).toBe('7-guitarist-revenge');
  });

  it('refuse a base that is not a URL or already has a "#", and a bad code', () => {
    expect(() => redeemLink('7-guitarist-revenge', 'example.com/pair')).toThrow(InvalidArgumentError);
    expect(() => redeemLink('7-guitarist-revenge', 'https://example.com/#top')).toThrow(/must not have a "#"/);
    expect(() => redeemLink('7-guitarist-revenge', 'https://example.com/#')).toThrow(InvalidArgumentError);
    expect(() => redeemLink('7-revenge-guitarist', 'https://example.com/')).toThrow(BadCodeError);
  });

  it('code → link → code is the identity, on any base', () => {
    const bases = new Branches('redeem link bases', ['web', 'custom scheme'] as const);
    const base = fc.oneof(
      fc.webUrl({ withQueryParameters: true }),
      // Custom schemes too, e.g. an app's own `myapp:pair`.
      fc
        .tuple(fc.stringMatching(/^[a-z][a-z0-9+.-]{0,8}$/), fc.array(fc.webSegment(), { minLength: 1, maxLength: 3 }))
        .map(([scheme, path]) => `${scheme}:${path.join('/') || 'x'}`)
        // Segments can make an authority that is no URL at all (`a://:`): redeemLink refuses those (tested above).
        .filter((b) => URL.canParse(b)),
    );
    fc.assert(
      fc.property(codeArb(), base, (c, b) => {
        const link = redeemLink(formatCode(c), b);
        expect(link.endsWith(`#${formatCode(c)}`)).toBe(true);
        expect(parseAnyCode(link).text).toBe(formatCode(c));
        bases.hit(/^https?:\/\//.test(b) ? 'web' : 'custom scheme');
      }),
      { numRuns: FC_RUNS },
    );
    bases.check();
  });
});

describe('parseAnyCode', () => {
  it('takes words, digits or a link, in the ways people paste them', () => {
    const forms = [
      '7-guitarist-revenge',
      '  7 Guitarist REVENGE ',
      '#7-guitarist-revenge',
      '7-105-169-9',
      '71051699',
      '7 105 169 9',
      'https://example.com/pair#7-guitarist-revenge',
      ' https://example.com/pair#7%20guitarist%20revenge ',
      'https://example.com/pair#7-105-169-9',
      'myapp:pair#71051699',
    ];
    for (const form of forms) expect(parseAnyCode(form).text, form).toBe('7-guitarist-revenge');
  });

  it('gives each way input can be wrong its own reason', () => {
    const cases: [string, string][] = [
      ['', 'empty'],
      ['   ', 'empty'],
      ['x'.repeat(300), 'too-long'],
      ['swirl-motor', 'nameplate'],
      ['7-revenge-guitarist', 'unknown-word'],
      ['7-guitarst-revenge', 'unknown-word'],
      ['7-105-169-8', 'check-digit'],
      ['7-105', 'digit-count'],
      ['https://', 'link'],
      ['https://example.com/pair#%E0%A4%A', 'link'],
      ['https://example.com/pair', 'link-no-code'],
      ['https://example.com/pair#', 'link-no-code'],
      ['https://example.com/pair#7-revenge-guitarist', 'unknown-word'],
      ['https://example.com/pair#7-105-169-8', 'check-digit'],
    ];
    for (const [input, why] of cases)
      expect(
        reason(() => parseAnyCode(input)),
        JSON.stringify(input),
      ).toBe(why);
    expect(reason(() => parseAnyCode('7-guitarist-revenge-x', { words: 2 }))).toBe('word-count');
    // A link may be long (a host's base URL); past 2,048 characters it is a paste accident too.
    const longBase = `https://example.com/${'p'.repeat(1000)}`;
    expect(parseAnyCode(redeemLink('7-guitarist-revenge', longBase)).text).toBe('7-guitarist-revenge');
    expect(reason(() => parseAnyCode(`https://example.com/${'p'.repeat(2100)}#7-guitarist-revenge`))).toBe('too-long');
    expect(() => parseDigits('7-105-169-9', { words: 0 })).toThrow(InvalidArgumentError);
  });

  it('never throws anything but a typed error, and reaches every form', () => {
    const outcomes = new Branches('parseAnyCode', ['words', 'digits', 'link', 'rejected typed'] as const);
    const mangle = (text: string, i: number, ch: string) => {
      const at = i % (text.length + 1);
      return text.slice(0, at) + ch + text.slice(at + 1);
    };
    const near = fc
      .tuple(codeArb(2, 2), fc.constantFrom('words', 'digits', 'link'), fc.nat(), fc.string({ maxLength: 1 }), fc.boolean())
      .map(([c, form, i, ch, intact]) => {
        const words = formatCode(c);
        const text = form === 'words' ? words : form === 'digits' ? codeToDigits(words) : redeemLink(words, 'https://example.com/pair');
        return intact ? text : mangle(text, i, ch);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.anything(), near), (input) => {
        try {
          const parsed = parseAnyCode(input as string);
          expect(parseCode(parsed.text).text).toBe(parsed.text); // always the normal words form
          const s = (input as string).trim();
          outcomes.hit(/^[a-z][a-z0-9+.-]*:/i.test(s) ? 'link' : /[a-z]/i.test(s) ? 'words' : 'digits');
        } catch (e) {
          expect(e).toBeInstanceOf(BackchannelError);
          outcomes.hit('rejected typed');
        }
      }),
      { numRuns: FC_RUNS * 5 },
    );
    outcomes.check();
  });
});
