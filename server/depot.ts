/**
 * The depot: while a contact is offline, a device deposits sealed sync data under the contact's topic;
 * the relay keeps it (TTL, per-topic quotas) until the contact fetches and acknowledges it. Blobs are
 * opaque sealed bytes: the relay never sees plaintext. (The seed calls this the "Mailbox"; here
 * "mailbox" means only the magic-wormhole mailbox used for pairing.) Frames: `src/depot/wire.ts`.
 *
 * Stored through a {@link StorageAdapter} under `['depot', topic, id]`, ids ordered by arrival, so
 * with `NodeFsStorage` the depot survives a relay restart with nothing lost.
 * @module
 */
import type { DepositItem } from '../src/depot/wire.js';
import type { StorageAdapter } from '../src/effects/storage.js';

export interface DepotLimits {
  ttlMs: number;
  maxItemsPerTopic: number;
  maxBytesPerTopic: number;
  maxBlobChars: number;
}

export const DEFAULT_DEPOT_LIMITS: Readonly<DepotLimits> = Object.freeze({
  ttlMs: 14 * 24 * 60 * 60_000,
  maxItemsPerTopic: 1_000,
  maxBytesPerTopic: 16 * 1024 * 1024,
  maxBlobChars: 1024 * 1024,
});

export class DepotRefusal extends Error {}

/** Deposit ids: time, counter, relay instance (older relays wrote ids without the instance). */
const DEPOSIT_ID = /^\d{15}-\d{6}(-[0-9a-f]{8})?$/;

/** A kept deposit, as the wire's `deposits` frame lists it. */
export type Deposit = DepositItem;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Depot {
  readonly #storage: StorageAdapter;
  readonly #limits: DepotLimits;
  readonly #now: () => number;
  #counter = 0;
  /** Tells apart ids minted in the same millisecond by several relays sharing one store. */
  readonly #instance = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('');
  /** Serialises writes, so quota checks and ids stay consistent. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { storage: StorageAdapter; limits?: Partial<DepotLimits>; now?: () => number }) {
    this.#storage = options.storage;
    this.#limits = { ...DEFAULT_DEPOT_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Store `blob` for `topic`; resolves with its id once it is saved. */
  deposit(topic: string, blob: string): Promise<string> {
    return this.#serial(async () => {
      if (blob.length > this.#limits.maxBlobChars) throw new DepotRefusal(`deposit too large (${blob.length} > ${this.#limits.maxBlobChars} characters)`);
      const existing = await this.#storage.loadRange(['depot', topic]);
      if (existing.length >= this.#limits.maxItemsPerTopic) throw new DepotRefusal(`depot full for this topic (${this.#limits.maxItemsPerTopic} deposits)`);
      const bytes = existing.reduce((n, c) => n + c.data.length, 0);
      if (bytes + blob.length > this.#limits.maxBytesPerTopic) throw new DepotRefusal(`depot full for this topic (${this.#limits.maxBytesPerTopic} bytes)`);
      // Time, then a counter: ids sort in arrival order, and the time is what expiry reads.
      const id = `${String(this.#now()).padStart(15, '0')}-${String(this.#counter++ % 1e6).padStart(6, '0')}-${this.#instance}`;
      await this.#storage.save(['depot', topic, id], encoder.encode(blob));
      return id;
    });
  }

  /** Every deposit waiting for `topic`, oldest first. */
  async fetch(topic: string): Promise<Deposit[]> {
    const chunks = await this.#storage.loadRange(['depot', topic]);
    return chunks.map((c) => ({ id: c.key[2]!, blob: decoder.decode(c.data) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The recipient has them: delete. */
  ack(topic: string, ids: string[]): Promise<void> {
    return this.#serial(async () => {
      for (const id of ids) if (DEPOSIT_ID.test(id)) await this.#storage.remove(['depot', topic, id]);
    });
  }

  /** How many deposits are waiting, over all topics. */
  async count(): Promise<number> {
    return (await this.#storage.loadRange(['depot'])).length;
  }

  /** Delete deposits older than the TTL. Returns how many went. */
  prune(): Promise<number> {
    return this.#serial(async () => {
      const before = this.#now() - this.#limits.ttlMs;
      let removed = 0;
      for (const c of await this.#storage.loadRange(['depot'])) {
        if (Number(c.key[2]?.slice(0, 15)) < before) {
          await this.#storage.remove(c.key);
          removed++;
        }
      }
      return removed;
    });
  }
}
