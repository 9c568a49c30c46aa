/**
 * Branch counts for a property: every outcome the property names is counted, printed after the run,
 * and must have been reached at least once. A property whose generator never reaches one of its
 * branches cannot catch a bug there, so that is a failure, not a statistic.
 */
import { expect } from 'vitest';

export class Branches<K extends string> {
  readonly #name: string;
  readonly counts: Record<K, number>;

  constructor(name: string, branches: readonly K[]) {
    this.#name = name;
    this.counts = Object.fromEntries(branches.map((b) => [b, 0])) as Record<K, number>;
  }

  hit(branch: K): void {
    this.counts[branch]++;
  }

  /** Print every count, then fail naming each branch never reached. */
  check(): void {
    const entries = Object.entries(this.counts) as [K, number][];
    console.log(`${this.#name}: ${entries.map(([b, n]) => `${b} ${n}`).join(', ')}`);
    const missed = entries.filter(([, n]) => n === 0).map(([b]) => b);
    expect(missed, `${this.#name}: branches never reached`).toEqual([]);
  }
}

/**
 * A test's time budget from its run count: `perRunMs` for each run on top of `baseMs`, so FC_RUNS=10000
 * gets the time it needs instead of failing on a budget sized for the default.
 */
export function budgetMs(runs: number, perRunMs: number, baseMs = 30_000): number {
  return baseMs + runs * perRunMs;
}
