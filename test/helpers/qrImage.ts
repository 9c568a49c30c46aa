/**
 * Read a QR back the way a camera would: a module matrix drawn as an RGBA image and decoded by jsQR, a
 * decoder written apart from the `qrcode-generator` encoder; plus readers for the two text forms we print.
 */
import jsQRModule from 'jsqr';

// jsqr's module.exports is the function itself; its types describe an ES default export.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

/** Decode a matrix (true = dark) that already has its quiet zone; `undefined` when jsQR finds no QR. */
export function decodeMatrix(rows: readonly (readonly boolean[])[], scale = 4): string | undefined {
  const size = rows.length * scale;
  const rgba = new Uint8ClampedArray(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = rows[Math.floor(y / scale)]![Math.floor(x / scale)] ? 0 : 255;
      rgba.set([v, v, v, 255], (y * size + x) * 4);
    }
  }
  return decodeRgba(rgba, size, size);
}

export function decodeRgba(rgba: Uint8ClampedArray, width: number, height: number): string | undefined {
  return jsQR(rgba, width, height, { inversionAttempts: 'dontInvert' })?.data;
}

const HALF: Record<string, [boolean, boolean]> = { ' ': [false, false], '▄': [false, true], '▀': [true, false], '█': [true, true] };

/** The matrix a half-block terminal QR shows (ANSI colour codes dropped): two rows per line. */
export function matrixFromHalfBlocks(text: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of text.replace(/\x1b\[[\d;]*m/g, '').split('\n')) {
    const pairs = [...line].map((ch) => {
      const pair = HALF[ch];
      if (!pair) throw new Error(`not a half block: ${JSON.stringify(ch)}`);
      return pair;
    });
    rows.push(
      pairs.map(([top]) => top),
      pairs.map(([, bottom]) => bottom),
    );
  }
  return rows;
}

/** The matrix our SVG draws: its dark path is `M x y.5 h n m dx 0 h n …`, one unit per module. */
export function matrixFromSvg(svg: string): boolean[][] {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  const d = /<path stroke="#000000" d="([^"]*)"/.exec(svg)?.[1];
  if (!size || d === undefined) throw new Error(`not a QR SVG of ours: ${svg.slice(0, 200)}`);
  const rows = Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  let x = 0;
  let y = 0;
  for (const [, cmd, a, b] of d.matchAll(/([MmHh])\s*([\d.]+)(?:\s+([\d.]+))?/g)) {
    if (cmd === 'M') [x, y] = [Number(a), Number(b)];
    else if (cmd === 'm') [x, y] = [x + Number(a), y + Number(b)];
    else if (cmd === 'h') {
      for (let i = 0; i < Number(a); i++) rows[Math.floor(y)]![x + i] = true;
      x += Number(a);
    } else throw new Error(`unexpected path command ${cmd}`);
  }
  return rows;
}
