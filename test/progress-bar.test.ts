/**
 * The CLI's transfer progress line (cli/progressBar.ts): redrawn in place on a terminal, a line a
 * second into a pipe, nothing when hidden, and the last state printed on stop.
 */
import { describe, expect, it } from 'vitest';
import { formatEta, humanSize, progressBar, progressLine } from '../cli/progressBar.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => (writes.push(s), true) } };
}

describe('the progress line', () => {
  it('shows the bar, the percentage, the sizes and the time left', () => {
    expect(progressLine(1_000_000, 2_000_000, 1_000)).toBe(`${'█'.repeat(20)}${'░'.repeat(20)} 50% | 1.0 MB / 2.0 MB | ETA 1s`);
    expect(progressLine(0, 10, 0)).toMatch(/ 0% \| 0 B \/ 10 B \| ETA --$/);
    expect(progressLine(5, 0, 10)).toMatch(/^█{40} 100% /);
    expect([formatEta(7.4), formatEta(185), formatEta(7_260), formatEta(Infinity)]).toEqual(['7s', '3m05s', '2h01m', '--']);
    expect([humanSize(999), humanSize(1234567)]).toEqual(['999 B', '1.2 MB']);
  });

  it('into a pipe: the first update, then at most a line a second, and the last state on stop', () => {
    let t = 0;
    const { writes, stream } = fakeStream(false);
    const bar = progressBar(stream, false, () => t);
    for (t = 0; t <= 2_500; t += 100) bar.update(t, 10_000);
    bar.stop();
    expect(writes.map((w) => /\| (\S+ \S+) \//.exec(w)?.[1])).toEqual(['0 B', '1.0 kB', '2.0 kB', '2.5 kB']);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
  });

  it('on a terminal: redrawn in place with the cursor hidden, then a newline and the cursor back', () => {
    let t = 0;
    const { writes, stream } = fakeStream(true);
    const bar = progressBar(stream, false, () => t);
    bar.update(0, 100);
    t = 50;
    bar.update(50, 100); // within 100 ms of the last draw: not drawn
    t = 150;
    bar.update(100, 100);
    bar.stop();
    bar.stop(); // twice is harmless
    expect(writes[0]).toBe('\x1b[?25l');
    expect(writes.slice(1, -1).every((w) => w.startsWith('\r') && w.endsWith('\x1b[K'))).toBe(true);
    expect(writes.slice(1, -1).map((w) => /(\d+)%/.exec(w)![1])).toEqual(['0', '100', '100']);
    expect(writes.at(-1)).toBe('\n\x1b[?25h');
  });

  it('hidden: writes nothing', () => {
    const { writes, stream } = fakeStream(true);
    const bar = progressBar(stream, true);
    bar.update(1, 2);
    bar.stop();
    expect(writes).toEqual([]);
  });
});
