/**
 * A code (or its redeem link) as a QR code, encoded by the `qrcode` package: an SVG string for pages,
 * text for a terminal. Works in browsers and Node alike: only `create` and `toString` are used, which
 * both of the package's builds have (its browser build's `toString` makes SVG whatever type is asked,
 * so the terminal text is drawn here from the module matrix, not by the package).
 *
 * Whoever sees the QR has the code: show it only to the person you pair with.
 * `@backchannel/sdk/qr`.
 * @module
 */
import QRCode from 'qrcode';
import { InvalidArgumentError } from '../errors.js';

/** Medium error correction (15 %): survives a smudged screen, and a two-word code still fits version 2. */
const OPTIONS = { errorCorrectionLevel: 'M' } as const;
/** Quiet zone in modules; the QR standard asks for 4. */
export const QR_MARGIN = 4;

/** The package's symbol, its plain `Error` for a payload that does not fit turned into ours. */
function create(payload: string): QRCode.QRCode {
  if (typeof payload !== 'string' || payload === '') throw new InvalidArgumentError('"payload" must be a non-empty string (a code or its link)');
  try {
    return QRCode.create(payload, OPTIONS);
  } catch (error) {
    throw new InvalidArgumentError(`"payload" does not fit in a QR code (${payload.length} characters): ${(error as Error).message}`);
  }
}

/** The dark (true) and light modules, row by row, without the quiet zone. */
export function qrModules(payload: string): boolean[][] {
  const { modules } = create(payload);
  return Array.from({ length: modules.size }, (_, row) => Array.from({ length: modules.size }, (_, col) => modules.get(row, col) === 1));
}

/** A standalone `<svg>` of the QR, dark on white, with the quiet zone; scales to its container. */
export async function qrSvg(payload: string): Promise<string> {
  create(payload); // the same checks and typed errors as the others
  return QRCode.toString(payload, { ...OPTIONS, type: 'svg', margin: QR_MARGIN });
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
