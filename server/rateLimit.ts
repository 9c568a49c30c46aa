/**
 * Token buckets keyed by address or nameplate, on an injected clock (milliseconds). A bucket starts
 * full with `burst` tokens and refills `perMinute` tokens a minute; each event takes one. The table is
 * bounded: past `maxKeys` the least recently used key is forgotten (it comes back full, the price of a
 * bounded table).
 * @module
 */
export interface RateOptions {
  burst: number;
  perMinute: number;
  now: () => number;
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #options: Required<RateOptions>;

  constructor(options: RateOptions) {
    this.#options = { maxKeys: 100_000, ...options };
  }

  /** Take a token for `key`; false when its bucket is empty (the event is refused). */
  take(key: string): boolean {
    const { burst, perMinute, now, maxKeys } = this.#options;
    const t = now();
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: t };
    this.#buckets.delete(key); // re-inserted below: Map order is recency order
    bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, t - bucket.at) * perMinute) / 60_000);
    bucket.at = t;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    // A full bucket says nothing a fresh one would not: drop it to keep the table small.
    if (bucket.tokens < burst) this.#buckets.set(key, bucket);
    while (this.#buckets.size > maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    return allowed;
  }

  /** Start `key` over with a full bucket (what it counted no longer applies). */
  forget(key: string): void {
    this.#buckets.delete(key);
  }

  /** Seconds until `key` has a token again (for the error text); undefined when it never refills. */
  waitSeconds(key: string): number | undefined {
    const bucket = this.#buckets.get(key);
    if (!bucket) return 0;
    if (this.#options.perMinute === 0) return undefined;
    return Math.max(0, Math.ceil(((1 - bucket.tokens) * 60) / this.#options.perMinute));
  }

  get size(): number {
    return this.#buckets.size;
  }
}
