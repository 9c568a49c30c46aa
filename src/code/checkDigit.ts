/**
 * The Damm check digit (H. Michael Damm, 2004): one decimal digit that catches every single wrong digit
 * and every swap of two neighbouring digits, the two mistakes people make copying numbers. Used by the
 * digit form of a code (digits.ts), where a typo would otherwise pass as another valid code and spend
 * the invitation on a wrong guess.
 * @module
 */

/** The order-10 quasigroup from Damm's thesis (as printed on Wikipedia's "Damm algorithm" page). */
const TABLE: readonly (readonly number[])[] = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/** The check digit for a string of decimal digits: `dammDigit('572') === '4'`. */
export function dammDigit(digits: string): string {
  let interim = 0;
  for (const ch of digits) interim = TABLE[interim]![ch.charCodeAt(0) - 48]!;
  return String(interim);
}

/** Whether `digits` ends in its own check digit: `dammValid('5724') === true`. */
export function dammValid(digits: string): boolean {
  return digits.length > 0 && dammDigit(digits) === '0';
}
