/**
 * A code (or its redeem link) as a QR code: an SVG string for pages, text for a terminal. The matrix
 * comes from `qrcode-generator` (no dependencies of its own, the same in browsers and Node); both
 * drawings are made here from that matrix.
 *
 * Whoever sees the QR has the code: show it only to the person you pair with.
 * `@backchannel/sdk/qr`.
 * @module
 */
import qrcode from 'qrcode-generator';
import { InvalidArgumentError } from '../errors.js';

/** Quiet zone in modules; the QR standard asks for 4. */
export const QR_MARGIN = 4;

/** The dark (true) and light modules, row by row, without the quiet zone. */
export function qrModules(payload: string): boolean[][] {
  if (typeof payload !== 'string' || payload === '') throw new InvalidArgumentError('"payload" must be a non-empty string (a code or its link)');
  // Medium error correction (15 %): survives a smudged screen, and a two-word code still fits version 2.
  const qr = qrcode(0, 'M');
  const bytes = new TextEncoder().encode(payload);
  try {
    // The largest QR (version 40, level M) holds 2,331 bytes: anything longer is refused before it is spread.
    if (bytes.length > 2331) throw new Error(`${bytes.length} bytes, at most 2331`);
    // The library takes one byte per character: hand it the UTF-8 bytes as such characters.
    qr.addData(String.fromCharCode(...bytes), 'Byte');
    qr.make();
  } catch (error) {
    throw new InvalidArgumentError(`"payload" does not fit in a QR code (${payload.length} characters): ${(error as Error).message}`);
  }
  const size = qr.getModuleCount();
  return Array.from({ length: size }, (_, row) => Array.from({ length: size }, (_, col) => qr.isDark(row, col)));
}

/** A standalone `<svg>` of the QR, dark on white, with the quiet zone; scales to its container. */
export async function qrSvg(payload: string): Promise<string> {
  const modules = qrModules(payload);
  const width = modules.length + 2 * QR_MARGIN;
  // One horizontal stroke per run of dark modules, on the row's centre line.
  let path = '';
  modules.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      let run = 1;
      while (row[x + run]) run++;
      path += `M${x + QR_MARGIN} ${y + QR_MARGIN}.5h${run}`;
      x += run;
    }
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${width}" shape-rendering="crispEdges">` +
    `<path fill="#ffffff" d="M0 0h${width}v${width}H0z"/><path stroke="#000000" d="${path}"/></svg>`
  );
}

/** How `qrTerminal` draws the QR code. */
export interface QrTextOptions {
  /**
   * Paint black on white with ANSI colours, so the QR scans on a dark terminal theme too (the CLI does
   * when stderr is a TTY). Off: plain characters, `█` for dark, as it would print on paper.
   */
  ansi?: boolean;
}

const HALF_BLOCKS = [' ', '▄', '▀', '█'] as const; // index: top dark ×2 + bottom dark
const BLACK_ON_WHITE = '\x1b[30;47m';
const RESET = '\x1b[0m';

/** The QR as text for a terminal: two module rows per line (half blocks), with the quiet zone. */
export function qrTerminal(payload: string, options: QrTextOptions = {}): string {
  const inner = qrModules(payload);
  const blank = (): boolean[] => new Array<boolean>(inner.length + 2 * QR_MARGIN).fill(false);
  const pad = new Array<boolean>(QR_MARGIN).fill(false);
  const rows = [...Array.from({ length: QR_MARGIN }, blank), ...inner.map((r) => [...pad, ...r, ...pad]), ...Array.from({ length: QR_MARGIN }, blank)];
  const lines: string[] = [];
  for (let y = 0; y < rows.length; y += 2) {
    const top = rows[y]!;
    const bottom = rows[y + 1] ?? blank();
    const line = top.map((dark, x) => HALF_BLOCKS[(dark ? 2 : 0) + (bottom[x] ? 1 : 0)]).join('');
    lines.push(options.ansi ? BLACK_ON_WHITE + line + RESET : line);
  }
  return lines.join('\n');
}
