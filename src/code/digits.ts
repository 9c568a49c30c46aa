/**
 * A code as digits, for a phone keypad or reading aloud: the nameplate, each word as its 3-digit byte in
 * its column of the PGP word list, then one Damm check digit. `7-guitarist-revenge` → `7-105-169-9`.
 * Separators are for reading only: `71051699` is the same code. The word count is fixed (two unless
 * told), so the nameplate is whatever comes before the last `3 × words + 1` digits.
 * @module
 */
import { BadCodeError, InvalidArgumentError } from '../errors.js';
import { dammDigit, dammValid } from './checkDigit.js';
import { formatCode, parseCode, MAX_CODE_LENGTH, type Code, type ParseCodeOptions } from './code.js';
import { EVEN_WORDS, ODD_WORDS } from './wordlist.js';

/** Word position i's column: 0, 2, … odd words; 1, 3, … even words (as in code.ts). */
const column = (position: number): readonly string[] => (position % 2 === 0 ? ODD_WORDS : EVEN_WORDS);

/** What may stand between digit groups: spaces, dashes, dots, underscores, slashes and a keypad's `*` and `#`. */
const SEPARATORS = /[\s\-_.*#/]+/g;

/** Whether `input` looks like the digit form: digits and separators only, at least one digit. */
export function looksLikeDigits(input: string): boolean {
  return /^[\d\s\-_.*#/]*\d[\d\s\-_.*#/]*$/.test(input);
}

/**
 * The digit form of a code, grouped with dashes: `codeToDigits('7-guitarist-revenge') === '7-105-169-9'`.
 * Takes words (parsed with {@link parseCode}, so they must be on the PGP list) or a parsed {@link Code}.
 */
export function codeToDigits(code: string | Code): string {
  const { nameplate, words } = typeof code === 'string' ? parseCode(code) : parseCode(formatCode(code));
  const groups = words.map((word, i) => String(column(i).indexOf(word)).padStart(3, '0'));
  return [nameplate, ...groups, dammDigit(nameplate + groups.join(''))].join('-');
}

/**
 * Parse the digit form back to the code. Throws {@link BadCodeError}; `data.reason` is `empty`,
 * `too-long`, `not-digits`, `digit-count` (too few digits for the words), `check-digit` (a digit is
 * wrong or two were swapped) or `digit-range` (a group above 255: not made by {@link codeToDigits}).
 */
export function parseDigits(input: string, options: Pick<ParseCodeOptions, 'words'> = {}): Code {
  const words = options.words ?? 2;
  if (!Number.isInteger(words) || words < 1 || words > 32) throw new InvalidArgumentError(`"words" must be an integer in 1..32, got ${words}`);
  if (typeof input === 'string' && input.length > MAX_CODE_LENGTH) {
    throw new BadCodeError(`The code is too long (${input.length} characters; at most ${MAX_CODE_LENGTH}).`, { reason: 'too-long' });
  }
  if (typeof input !== 'string' || input.replace(SEPARATORS, '') === '') throw new BadCodeError('The code is empty.', { reason: 'empty' });
  if (!looksLikeDigits(input)) {
    throw new BadCodeError('A digit code has only digits (and spaces or dashes between them), like 7-105-169-9.', {
      reason: 'not-digits',
      input,
    });
  }
  const digits = input.replace(SEPARATORS, '');
  const tail = 3 * words + 1;
  if (digits.length <= tail) {
    throw new BadCodeError(
      `A digit code for ${words} words has at least ${tail + 1} digits (the number, 3 per word, 1 check digit); this one has ${digits.length}.`,
      { reason: 'digit-count', input },
    );
  }
  if (!dammValid(digits)) {
    throw new BadCodeError('The digits do not add up: one is wrong or two were swapped. Check the code again.', {
      reason: 'check-digit',
      input,
    });
  }
  const nameplate = digits.slice(0, digits.length - tail);
  const chosen = Array.from({ length: words }, (_, i) => {
    const group = digits.slice(nameplate.length + 3 * i, nameplate.length + 3 * i + 3);
    const word = column(i)[Number(group)];
    if (word === undefined) {
      throw new BadCodeError(`"${group}" is not a word number (000 to 255).`, { reason: 'digit-range', input });
    }
    return word;
  });
  return { nameplate, words: chosen, text: formatCode({ nameplate, words: chosen }) };
}
