/**
 * Redeem links: a code in the `#fragment` of a URL the host chooses, `https://example.com/pair#7-guitarist-revenge`
 * or `myapp:pair#7-guitarist-revenge`. The fragment is never sent in an HTTP request, so the code does
 * not reach the web server's logs; the page that opens reads it from `location.hash`.
 * @module
 */
import { BadCodeError, InvalidArgumentError } from '../errors.js';
import { formatCode, parseCode, type Code } from './code.js';

/** The longest redeem link read: URLs past 2,000 characters break in browsers and chat apps anyway. */
export const MAX_LINK_LENGTH = 2048;

/** Whether `input` starts with a URL scheme (`https:`, `myapp:`). A code never has a colon. */
export function looksLikeLink(input: string): boolean {
  return /^\s*[a-z][a-z0-9+.-]*:/i.test(input);
}

/**
 * The redeem link for `code` on `base`: `redeemLink('7-guitarist-revenge', 'https://example.com/pair')`
 * → `https://example.com/pair#7-guitarist-revenge`. Throws `InvalidArgumentError` when `base` is not a
 * URL or already has a `#`, and `BadCodeError` for a bad code. The link carries the whole secret code.
 */
export function redeemLink(code: string | Code, base: string): string {
  const text = parseCode(typeof code === 'string' ? code : formatCode(code)).text;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new InvalidArgumentError(`"base" must be an absolute URL like https://example.com/pair, got "${base}"`);
  }
  if (base.includes('#')) throw new InvalidArgumentError(`"base" must not have a "#" part: the code goes there. Got "${base}"`);
  url.hash = text;
  return url.href;
}

/**
 * The code text in a link's fragment, percent-decoded; not yet parsed. Throws {@link BadCodeError} with
 * `data.reason` `link` (not a URL) or `link-no-code` (nothing after `#`).
 */
export function linkFragment(input: string): string {
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw new BadCodeError('This is not a link a code can be read from.', { reason: 'link', input });
  }
  let fragment: string;
  try {
    fragment = decodeURIComponent(url.hash.slice(1));
  } catch {
    throw new BadCodeError('The code in this link is garbled (bad %-escape).', { reason: 'link', input });
  }
  if (fragment.trim() === '') {
    throw new BadCodeError('The link has no code after "#": was it cut short when copied?', { reason: 'link-no-code', input });
  }
  return fragment;
}
