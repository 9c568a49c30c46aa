/**
 * Wormhole codes: `<nameplate>-<word>-<word>`, e.g. `7-crossover-clockwork`. The nameplate is a decimal slot
 * on the relay; the words are the password (8 bits each, PGP word list, alternating columns).
 * @module
 */
import { BadCodeError, InvalidArgumentError } from '../errors.js';
import type { RandomBytes } from '../crypto/spake2.js';
import { EVEN_WORDS, ODD_WORDS } from './wordlist.js';

/** A parsed, normalised code. */
export interface Code {
  /** The numeric slot on the relay, e.g. `"12"`. The server sees it; it is not secret. */
  readonly nameplate: string;
  /** The password words, lower case. Never sent to the server. */
  readonly words: readonly string[];
  /** The canonical text, `nameplate-word-word`: what both sides feed to SPAKE2. */
  readonly text: string;
}

/** How to parse a code: whether its words must be PGP words, and how many it must have. */
export interface ParseCodeOptions {
  /**
   * Require each word to come from the PGP list in its column (the default). Turn off to accept any
   * words, as the `wormhole` CLI does for codes people made up.
   */
  checkWords?: boolean;
  /** How many words a code must have; default: at least one. */
  words?: number;
}

const ODD_SET = new Set(ODD_WORDS);
const EVEN_SET = new Set(EVEN_WORDS);
/** Words for position i: positions 0, 2, … use the odd column. */
function wordsFor(position: number): readonly string[] {
  return position % 2 === 0 ? ODD_WORDS : EVEN_WORDS;
}
function setFor(position: number): ReadonlySet<string> {
  return position % 2 === 0 ? ODD_SET : EVEN_SET;
}

/** Maximum code length we accept from a person; anything longer is a paste accident. */
export const MAX_CODE_LENGTH = 256;

/**
 * Normalise what a person typed: NFC, trimmed, lower case, runs of spaces / dashes / underscores /
 * dots collapse to one dash, leading and trailing dashes dropped. `" 7 Crossover--clockwork "` → `7-crossover-clockwork`.
 */
export function normalizeCode(input: string): string {
  if (typeof input !== 'string') throw new InvalidArgumentError(`"code" expected a string, got ${typeof input}`);
  return input
    .normalize('NFC')
    .trim()
    .toLowerCase()
    .replace(/[\s\-_.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * Parse and validate a code. Throws {@link BadCodeError} whose `data.reason` is one of `empty`,
 * `too-long`, `nameplate`, `no-words`, `word-count`, `unknown-word`.
 *
 * @example
 * parseCode('7 Crossover clockwork') // → { nameplate: '7', words: ['crossover', 'clockwork'], text: '7-crossover-clockwork' }
 */
export function parseCode(input: string, options: ParseCodeOptions = {}): Code {
  const { checkWords = true } = options;
  if (typeof input === 'string' && input.length > MAX_CODE_LENGTH) {
    throw new BadCodeError(`The code is too long (${input.length} characters; at most ${MAX_CODE_LENGTH}).`, {
      reason: 'too-long',
    });
  }
  const text = normalizeCode(input);
  if (text === '') throw new BadCodeError('The code is empty.', { reason: 'empty', input });
  const [nameplate, ...words] = text.split('-') as [string, ...string[]];
  if (!/^\d+$/.test(nameplate)) {
    throw new BadCodeError(`The code must start with a number (the nameplate), like 7-crossover-clockwork; got "${nameplate}".`, {
      reason: 'nameplate',
      input,
    });
  }
  if (words.length === 0) {
    throw new BadCodeError(`The code "${text}" has a number but no words, like 7-crossover-clockwork.`, { reason: 'no-words', input });
  }
  if (options.words !== undefined && words.length !== options.words) {
    throw new BadCodeError(`The code must have ${options.words} words after the number; "${text}" has ${words.length}.`, {
      reason: 'word-count',
      input,
    });
  }
  if (checkWords) {
    words.forEach((word, i) => {
      if (setFor(i).has(word)) return;
      const other = setFor(i + 1).has(word);
      const hint = other ? ' It belongs in the other position: were two words swapped or one left out?' : suggestion(word, i);
      throw new BadCodeError(`"${word}" is not a code word for position ${i + 1}.${hint}`, {
        reason: 'unknown-word',
        input,
      });
    });
  }
  return { nameplate, words, text };
}

function suggestion(word: string, position: number): string {
  const near = completeWord(word.slice(0, 3), position);
  return near.length > 0 && near.length <= 5 ? ` Did you mean ${near.map((w) => `"${w}"`).join(' or ')}?` : '';
}

/** Format a nameplate and words as a code. `parseCode(formatCode(c)).text === formatCode(c)`. */
export function formatCode(code: { nameplate: string; words: readonly string[] }): string {
  return [code.nameplate, ...code.words].join('-');
}

/**
 * Choose `count` random words with a CSPRNG, one byte each, alternating columns as magic-wormhole's
 * `choose_words` does.
 */
export function chooseWords(randomBytes: RandomBytes, count = 2): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 32) {
    throw new InvalidArgumentError(`"count" must be an integer in 1..32, got ${count}`);
  }
  const bytes = randomBytes(count);
  if (!(bytes instanceof Uint8Array) || bytes.length !== count) {
    throw new InvalidArgumentError(`randomBytes(${count}) returned the wrong length`);
  }
  return Array.from(bytes, (b, i) => wordsFor(i)[b]!);
}

/** A fresh code on the given nameplate. */
export function generateCode(nameplate: string, randomBytes: RandomBytes, count = 2): Code {
  if (!/^\d+$/.test(nameplate)) throw new InvalidArgumentError(`"nameplate" must be numeric, got "${nameplate}"`);
  const words = chooseWords(randomBytes, count);
  return { nameplate, words, text: formatCode({ nameplate, words }) };
}

/** Words that complete `prefix` at word position `position` (0-based), sorted. */
export function completeWord(prefix: string, position: number): string[] {
  const p = prefix.toLowerCase();
  return wordsFor(position)
    .filter((w) => w.startsWith(p))
    .sort();
}

/**
 * Complete a partly typed code, as magic-wormhole's `get_completions` does: `"7-cro"` →
 * `["7-crossover-", …]`. The nameplate part is left alone.
 */
export function completeCode(partial: string, words = 2): string[] {
  const text = normalizeCode(partial) + (/[\s\-]$/.test(partial) && partial.trim() !== '' ? '-' : '');
  const parts = text.split('-');
  if (parts.length < 2) return [];
  const position = parts.length - 2;
  if (position >= words) return [];
  const last = parts[parts.length - 1]!;
  const head = parts.slice(0, -1).join('-');
  return completeWord(last, position).map((w) => `${head}-${w}${position + 1 < words ? '-' : ''}`);
}
