/**
 * One parser for every way a code is shared: words (`7-guitarist-revenge`), digits (`7-105-169-9`) or a
 * redeem link (`https://example.com/pair#7-guitarist-revenge`). Apps and the CLI take any of them.
 * @module
 */
import { BadCodeError } from '../errors.js';
import { MAX_CODE_LENGTH, parseCode, type Code, type ParseCodeOptions } from './code.js';
import { looksLikeDigits, parseDigits } from './digits.js';
import { linkFragment, looksLikeLink, MAX_LINK_LENGTH } from './link.js';

/**
 * Recognise words, digits or a redeem link and return the normal code (words). Throws
 * {@link BadCodeError}; `data.reason` says what was wrong: see {@link parseCode}, {@link parseDigits}
 * and `linkFragment` for the reasons of each form.
 *
 * @example
 * parseAnyCode('7 105 169 9').text                              // '7-guitarist-revenge'
 * parseAnyCode('https://example.com/pair#7-guitarist-revenge').text // '7-guitarist-revenge'
 */
export function parseAnyCode(input: string, options: ParseCodeOptions = {}): Code {
  if (typeof input !== 'string') return parseCode(input, options); // its typed error
  const link = looksLikeLink(input);
  const max = link ? MAX_LINK_LENGTH : MAX_CODE_LENGTH; // a host's base URL may be long; its code may not
  if (input.length > max) {
    throw new BadCodeError(`The ${link ? 'link' : 'code'} is too long (${input.length} characters; at most ${max}).`, { reason: 'too-long' });
  }
  const text = link ? linkFragment(input) : input;
  // A pasted fragment keeps its "#"; digits allow "#" as a keypad separator anyway.
  const bare = text.trim().replace(/^#/, '');
  return looksLikeDigits(bare) ? parseDigits(bare, options) : parseCode(bare, options);
}
