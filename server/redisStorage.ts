/**
 * A {@link StorageAdapter} on Redis, so several relay processes share one depot.
 *
 * Values live in string keys `<ns>:v:<a/b/c>`; a sorted set `<ns>:keys` (every score 0) indexes the
 * joined keys, so `loadRange` is a lexicographic range read (`ZRANGEBYLEX`) rather than a `SCAN` of
 * the whole keyspace. Each write updates value and index in one `MULTI`, so the two never disagree.
 * Durability is Redis's own (AOF/RDB as configured by the operator; see docs/server-operations.md).
 * @module
 */
import type { Redis } from 'ioredis';
import type { StorageAdapter, StorageChunk, StorageKey } from '../src/effects/storage.js';
import { assertKey } from '../src/adapters/storageKeys.js';

/** How many values one `MGET` fetches at most. */
const BATCH = 256;

/** Storage on Redis (the relay's depot shared by several relays): values plus a sorted-set index under namespace `ns`, one `MULTI` per write. */
export class RedisStorage implements StorageAdapter {
  readonly #redis: Redis;
  readonly #ns: string;

  /** `namespace` separates several stores in one Redis (default `backchannel`). */
  constructor(redis: Redis, namespace = 'backchannel') {
    this.#redis = redis;
    this.#ns = namespace;
  }

  #value(joined: string): string {
    return `${this.#ns}:v:${joined}`;
  }

  get #index(): string {
    return `${this.#ns}:keys`;
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const v = await this.#redis.getBuffer(this.#value(assertKey(key).join('/')));
    return v === null ? undefined : new Uint8Array(v);
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const joined = assertKey(key).join('/');
    await this.#redis.multi().set(this.#value(joined), Buffer.from(data)).zadd(this.#index, 0, joined).exec();
  }

  async remove(key: StorageKey): Promise<void> {
    const joined = assertKey(key).join('/');
    await this.#redis.multi().del(this.#value(joined)).zrem(this.#index, joined).exec();
  }

  /** Joined keys equal to `prefix` or below it. `/` sorts just before `0`, so `[p/ … (p0` is the subtree. */
  async #keysUnder(prefix: StorageKey): Promise<string[]> {
    const p = assertKey(prefix, true).join('/');
    if (p === '') return this.#redis.zrange(this.#index, 0, -1);
    const [below, exact] = await Promise.all([this.#redis.zrangebylex(this.#index, `[${p}/`, `(${p}0`), this.#redis.zscore(this.#index, p)]);
    return exact === null ? below : [p, ...below];
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const keys = await this.#keysUnder(prefix);
    const out: StorageChunk[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      const values = await this.#redis.mgetBuffer(...batch.map((k) => this.#value(k)));
      // A key removed between the index read and the value read is simply not there any more.
      batch.forEach((k, j) => values[j] && out.push({ key: k.split('/'), data: new Uint8Array(values[j]!) }));
    }
    return out;
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    return (await this.#keysUnder(prefix)).map((k) => k.split('/'));
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const keys = await this.#keysUnder(prefix);
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      await this.#redis
        .multi()
        .del(...batch.map((k) => this.#value(k)))
        .zrem(this.#index, ...batch)
        .exec();
    }
  }
}
