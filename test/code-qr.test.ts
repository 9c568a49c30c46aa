/** A code as a QR: the SVG and the terminal text both draw the matrix `qrcode-generator` made, and a decoder reads the code back. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCode } from '../src/code/code.js';
import { redeemLink } from '../src/code/link.js';
import { parseAnyCode } from '../src/code/anyCode.js';
import { QR_MARGIN, qrModules, qrSvg, qrTerminal } from '../src/code/qr.js';
import { EVEN_WORDS, ODD_WORDS } from '../src/code/wordlist.js';
import { InvalidArgumentError } from '../src/errors.js';
import { decodeMatrix, matrixFromHalfBlocks, matrixFromSvg } from './helpers/qrImage.js';
import { Branches } from './helpers/branches.js';
import { FC_NET_RUNS } from './helpers/runs.js';

const CODE = '7-guitarist-revenge';
const LINK = 'https://example.com/pair#7-guitarist-revenge';

/** The matrix with its quiet zone, as a scanner sees it. */
function withMargin(inner: boolean[][], margin = QR_MARGIN): boolean[][] {
  const width = inner.length + 2 * margin;
  const blank = () => new Array<boolean>(width).fill(false);
  const pad = new Array<boolean>(margin).fill(false);
  return [...Array.from({ length: margin }, blank), ...inner.map((r) => [...pad, ...r, ...pad]), ...Array.from({ length: margin }, blank)];
}

/** A QR's 7×7 finder pattern: dark ring, light ring, dark 3×3 centre. */
function isFinder(m: boolean[][], top: number, left: number): boolean {
  for (let y = 0; y < 7; y++) {
    for (let x = 0; x < 7; x++) {
      const ring = Math.max(Math.abs(y - 3), Math.abs(x - 3));
      if (m[top + y]![left + x] !== (ring !== 2)) return false;
    }
  }
  return true;
}

describe('QR codes', () => {
  it('a two-word code is a version-2 QR (25 modules) with its three finder patterns, and decodes back', () => {
    const m = qrModules(CODE);
    expect(m).toHaveLength(25);
    expect(isFinder(m, 0, 0) && isFinder(m, 0, 18) && isFinder(m, 18, 0)).toBe(true);
    expect(isFinder(m, 18, 18)).toBe(false);
    expect(decodeMatrix(withMargin(m))).toBe(CODE);
    expect(decodeMatrix(withMargin(qrModules(LINK)))).toBe(LINK);
  });

  it('the SVG draws exactly that matrix, with a 4-module quiet zone', async () => {
    const svg = await qrSvg(CODE);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 33 33"/);
    const drawn = matrixFromSvg(svg);
    expect(drawn).toEqual(withMargin(qrModules(CODE)));
    expect(decodeMatrix(drawn)).toBe(CODE);
  });

  it('the terminal text draws exactly that matrix, plain or black on white', () => {
    const plain = qrTerminal(CODE);
    expect(plain).toMatch(/^[ ▀▄█\n]+$/);
    const lines = plain.split('\n');
    expect(lines).toHaveLength(Math.ceil(33 / 2));
    expect(lines.every((l) => [...l].length === 33)).toBe(true);
    // 33 rows in pairs: the last line's bottom half is one more light row.
    expect(matrixFromHalfBlocks(plain)).toEqual([...withMargin(qrModules(CODE)), new Array(33).fill(false)]);
    expect(decodeMatrix(matrixFromHalfBlocks(plain))).toBe(CODE);

    const ansi = qrTerminal(CODE, { ansi: true });
    for (const line of ansi.split('\n')) expect(line).toMatch(/^\x1b\[30;47m[ ▀▄█]{33}\x1b\[0m$/);
    expect(ansi.replace(/\x1b\[[\d;]*m/g, '')).toBe(plain);
  });

  it('refuse an empty payload and one that does not fit, with a typed error', async () => {
    expect(() => qrModules('')).toThrow(InvalidArgumentError);
    expect(() => qrTerminal('x'.repeat(5000))).toThrow(/does not fit in a QR code \(5000 characters\)/);
    await expect(qrSvg('x'.repeat(5000))).rejects.toThrow(InvalidArgumentError);
    // Far past any QR (a spread of its bytes would overflow the call stack): still the typed error.
    expect(() => qrModules('x'.repeat(500_000))).toThrow(InvalidArgumentError);
    expect(() => qrModules('x'.repeat(2331))).not.toThrow();
    expect(() => qrModules('x'.repeat(2332))).toThrow(InvalidArgumentError);
  });

  it('any code, or its redeem link, scans back to the same code', () => {
    const code = fc
      .record({ nameplate: fc.nat({ max: 99_999 }).map(String), bytes: fc.array(fc.nat({ max: 255 }), { minLength: 2, maxLength: 2 }) })
      .map(({ nameplate, bytes }) => formatCode({ nameplate, words: bytes.map((b, i) => (i % 2 === 0 ? ODD_WORDS : EVEN_WORDS)[b]!) }));
    const payloads = new Branches('QR payloads', ['code', 'link'] as const);
    fc.assert(
      fc.property(code, fc.boolean(), (text, asLink) => {
        payloads.hit(asLink ? 'link' : 'code');
        const payload = asLink ? redeemLink(text, 'https://example.com/pair') : text;
        const scanned = decodeMatrix(matrixFromHalfBlocks(qrTerminal(payload)));
        expect(scanned).toBe(payload);
        expect(parseAnyCode(scanned!).text).toBe(text);
      }),
      { numRuns: FC_NET_RUNS }, // each run decodes an image: the heavy-property budget, a tenth of FC_RUNS
    );
    payloads.check();
  });
});
