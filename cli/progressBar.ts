/**
 * The transfer progress line on stderr: redrawn in place on a terminal (at most ten times a second),
 * a line every second into a pipe or a log, nothing with --hide-progress.
 * @module
 */

/** A progress display: `update` as bytes move, `stop` once (prints the last state). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** 1234567 → "1.2 MB", as magic-wormhole prints sizes. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

const WIDTH = 40;

/** Seconds → "7s", "3m05s", "2h01m"; unknown → "--". */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** "████░░░░ 50% | 1.0 MB / 2.0 MB | ETA 3s": what one update shows. */
export function progressLine(done: number, total: number, elapsedMs: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * WIDTH);
  const rate = elapsedMs > 0 ? done / elapsedMs : 0; // bytes per millisecond
  const eta = done >= total ? 0 : rate > 0 ? (total - done) / rate / 1000 : Infinity;
  return `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)} ${Math.floor(fraction * 100)}% | ${humanSize(done)} / ${humanSize(total)} | ETA ${formatEta(eta)}`;
}

/** The progress line on `stream`; `now` (milliseconds) is injectable for tests. */
export function progressBar(stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>, hidden: boolean, now: () => number = () => performance.now()): Progress {
  if (hidden) return { update() {}, stop() {} };
  const tty = stream.isTTY === true;
  const every = tty ? 100 : 1000;
  let started: number | undefined;
  let shown = -Infinity;
  let last: { done: number; total: number } | undefined;
  const draw = (at: number) => {
    const line = progressLine(last!.done, last!.total, at - started!);
    shown = at;
    stream.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  return {
    update(done, total) {
      const at = now();
      if (started === undefined) {
        started = at;
        if (tty) stream.write('\x1b[?25l'); // hide the cursor while redrawing
      }
      last = { done, total };
      if (at - shown >= every) draw(at);
    },
    stop() {
      if (started === undefined) return;
      draw(now());
      if (tty) stream.write('\n\x1b[?25h');
      started = undefined;
      shown = -Infinity;
    },
  };
}
