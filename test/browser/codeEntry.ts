/** Bundled for Chromium: the code forms and the QR, as a page would import them. */
import { parseAnyCode } from '../../src/code/anyCode.js';
import { codeToDigits } from '../../src/code/digits.js';
import { redeemLink } from '../../src/code/link.js';
import { qrSvg, qrTerminal } from '../../src/code/qr.js';

const codes = {
  parseAnyCode: (input: string) => parseAnyCode(input).text,
  codeToDigits,
  redeemLink,
  qrSvg,
  qrTerminal,
  /** Draw an SVG the way a page shows it (an <img>) onto a canvas; its RGBA pixels. */
  async rasterize(svg: string, px: number): Promise<number[]> {
    const img = new Image(px, px);
    img.src = `data:image/svg+xml,${encodeURIComponent(svg)}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = px;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0, px, px);
    return Array.from(ctx.getImageData(0, 0, px, px).data);
  },
};

declare global {
  interface Window {
    codes: typeof codes;
  }
}
window.codes = codes;
