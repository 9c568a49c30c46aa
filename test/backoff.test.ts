import { describe, expect, it } from 'vitest';
import { backoffMs } from '../src/machines/backoff.js';

describe('backoffMs', () => {
  it('doubles from the base and stops at the cap (vectors)', () => {
    const depot = { baseMs: 100, maxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffMs(n, depot))).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    const discover = { baseMs: 500, maxMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffMs(n, discover))).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('waits the base before the first retry, and the cap for any huge attempt', () => {
    expect(backoffMs(0, { baseMs: 250, maxMs: 1000 })).toBe(250);
    expect(backoffMs(-3, { baseMs: 250, maxMs: 1000 })).toBe(250);
    expect(backoffMs(5000, { baseMs: 250, maxMs: 1000 })).toBe(1000);
  });

  it('a base above the cap waits the cap', () => {
    expect(backoffMs(1, { baseMs: 5000, maxMs: 1000 })).toBe(1000);
  });
});
