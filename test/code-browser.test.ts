/**
 * The code forms and the QR in real Chromium: the bundle gives the same answers as Node, and the SVG, drawn by the browser, scans back to the code.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnyCode } from '../src/code/anyCode.js';
import { qrSvg, qrTerminal } from '../src/code/qr.js';
import { openInChromium, type BrowserFixture } from './helpers/chromium.js';
import { decodeRgba } from './helpers/qrImage.js';

const CODE = '7-guitarist-revenge';
let browser: BrowserFixture;
beforeAll(async () => {
  browser = await openInChromium(fileURLToPath(new URL('./browser/codeEntry.ts', import.meta.url)), 'codes');
});
afterAll(async () => {
  await browser?.close();
});

describe('codes in Chromium', () => {
  it('parse every form and make digits and links as Node does', async () => {
    const inputs = [CODE, '7 105 169 9', '71051699', 'https://example.com/pair#7-guitarist-revenge', 'myapp:pair#7%20guitarist%20revenge'];
    const page = browser.page;
    for (const input of inputs) {
      expect(await page.evaluate((i) => window.codes.parseAnyCode(i), input)).toBe(parseAnyCode(input).text);
    }
    expect(await page.evaluate((c) => window.codes.codeToDigits(c), CODE)).toBe('7-105-169-9');
    expect(await page.evaluate((c) => window.codes.redeemLink(c, 'https://example.com/pair'), CODE)).toBe('https://example.com/pair#7-guitarist-revenge');
    const error = await page.evaluate(() => {
      try {
        window.codes.parseAnyCode('7-105-169-8');
        return undefined;
      } catch (e) {
        return { name: (e as Error).name, reason: (e as { data?: { reason?: string } }).data?.reason };
      }
    });
    expect(error).toEqual({ name: 'BadCodeError', reason: 'check-digit' });
  });

  it('make the same QR as Node, and the SVG the browser draws scans back to the code', async () => {
    const page = browser.page;
    const svg = await page.evaluate((c) => window.codes.qrSvg(c), CODE);
    expect(svg).toBe(await qrSvg(CODE));
    expect(await page.evaluate((c) => window.codes.qrTerminal(c), CODE)).toBe(qrTerminal(CODE));
    const px = 264; // 33 modules × 8
    const rgba = await page.evaluate(([s, n]) => window.codes.rasterize(s as string, n as number), [svg, px] as const);
    expect(decodeRgba(Uint8ClampedArray.from(rgba), px, px)).toBe(CODE);
  });
});
