/**
 * The transfer progress bar on stderr (cli-progress): redrawn in place on a terminal, a line every
 * second into a pipe or a log, nothing with --hide-progress.
 * @module
 */
import cliProgress from 'cli-progress';

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

export function progressBar(stream: NodeJS.WriteStream, hidden: boolean): Progress {
  if (hidden) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{bar} {percentage}% | {done} / {size} | ETA {eta_formatted}',
      noTTYOutput: true,
      notTTYSchedule: 1000,
      hideCursor: stream.isTTY === true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      const payload = { done: humanSize(done), size: humanSize(total) };
      if (!started) {
        started = true;
        bar.start(total, done, payload);
      } else bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
