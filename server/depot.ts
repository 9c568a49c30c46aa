/**
 * The depot: while a contact is offline, a device deposits sealed sync data under the contact's topic;
 * the relay keeps it (TTL, per-topic quotas) until the contact fetches and acknowledges it. Blobs are
 * opaque sealed bytes: the relay never sees plaintext. (The seed calls this the "Mailbox"; here
 * "mailbox" means only the magic-wormhole mailbox used for pairing.) Frames: `src/depot/wire.ts`.
 *
 * Stored through a {@link StorageAdapter} under `['depot', topic, id]`, ids ordered by arrival, so
 * with `NodeFsStorage` the depot survives a relay restart with nothing lost.
 *
 * An index in memory (topic → id → size, with per-topic and global totals) answers every quota check,
 * `count` and `prune` without reading a deposit's bytes; it is rebuilt from storage once, at the first
 * request after a start. Relays sharing one store (Redis) each index their own deposits; a `fetch`
 * re-reads its topic from storage, so deposits made through another relay are found and indexed then.
 * @module
 */
import { isDepotTag, type DepositItem } from '../src/depot/wire.js';
import type { StorageAdapter } from '../src/effects/storage.js';

export interface DepotLimits {
  ttlMs: number;
  maxItemsPerTopic: number;
  maxBytesPerTopic: number;
  maxBlobChars: number;
  /** Bytes of deposits the whole depot holds, over every topic (any 64-hex string is a topic). */
  maxBytesTotal: number;
  /** Deposits the whole depot holds: bounds the index in memory (and the files) against a flood of tiny ones. */
  maxItemsTotal: number;
  /** Blob characters one `deposits` reply carries at most (it always carries one); `more` says there is more. */
  maxFetchChars: number;
  /** Ids one `ack` may list; more is refused. A fetch page never holds more deposits than a topic can (`maxItemsPerTopic`). */
  maxAckIds: number;
}

export const DEFAULT_DEPOT_LIMITS: Readonly<DepotLimits> = Object.freeze({
  ttlMs: 14 * 24 * 60 * 60_000,
  maxItemsPerTopic: 1_000,
  maxBytesPerTopic: 16 * 1024 * 1024,
  maxBlobChars: 1024 * 1024,
  maxBytesTotal: 1024 * 1024 * 1024,
  maxItemsTotal: 200_000,
  maxFetchChars: 1024 * 1024,
  maxAckIds: 1_000,
});

export class DepotRefusal extends Error {}

/** A kept deposit, as the wire's `deposits` frame lists it. */
export type Deposit = DepositItem;

/** One page of a topic's deposits, oldest first; `more`: later ones wait (fetch again after the last id). */
export interface DepositPage {
  items: Deposit[];
  more: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The depositor's tag a deposit id ends with (`time-counter-instance-tag`), if it has one. */
const tagOf = (id: string): string | undefined => id.split('-')[3];

/** One topic's deposits: id → size (bytes), and their total. */
interface TopicIndex {
  sizes: Map<string, number>;
  bytes: number;
}

export class Depot {
  readonly #storage: StorageAdapter;
  readonly #limits: DepotLimits;
  readonly #now: () => number;
  #counter = 0;
  /** Tells apart ids minted in the same millisecond by several relays sharing one store. */
  readonly #instance = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('');
  /** Serialises writes, so quota checks and ids stay consistent. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #topics = new Map<string, TopicIndex>();
  #items = 0;
  #bytes = 0;
  #indexed: Promise<void> | undefined;

  constructor(options: { storage: StorageAdapter; limits?: Partial<DepotLimits>; now?: () => number }) {
    this.#storage = options.storage;
    this.#limits = { ...DEFAULT_DEPOT_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
  }

  /** Deposits and bytes held, over every topic (this relay's index). */
  get totals(): { items: number; bytes: number } {
    return { items: this.#items, bytes: this.#bytes };
  }

  /** Build the index from storage, once: the counters survive a restart. */
  #index(): Promise<void> {
    this.#indexed ??= this.#storage.loadRange(['depot']).then(
      (chunks) => {
        for (const c of chunks) if (c.key.length === 3) this.#add(c.key[1]!, c.key[2]!, c.data.length);
      },
      (err: unknown) => {
        // A storage hiccup at the first request must not fail every later one: build again next time.
        this.#indexed = undefined;
        throw err;
      },
    );
    return this.#indexed;
  }

  #add(topic: string, id: string, size: number): void {
    let t = this.#topics.get(topic);
    if (!t) this.#topics.set(topic, (t = { sizes: new Map(), bytes: 0 }));
    if (t.sizes.has(id)) return;
    t.sizes.set(id, size);
    t.bytes += size;
    this.#items++;
    this.#bytes += size;
  }

  #drop(topic: string, id: string): void {
    const t = this.#topics.get(topic);
    const size = t?.sizes.get(id);
    if (!t || size === undefined) return;
    t.sizes.delete(id);
    t.bytes -= size;
    this.#items--;
    this.#bytes -= size;
    if (t.sizes.size === 0) this.#topics.delete(topic);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Store `blob` for `topic`; resolves with its id once it is saved. Every check happens before any read.
   * `tag` (the depositor's opaque tag, 16 hex digits) goes into the id, so a fetch can skip it unread.
   */
  deposit(topic: string, blob: string, tag?: string): Promise<string> {
    return this.#serial(async () => {
      // The tag becomes part of a storage key: only the wire's form (its guard checked it already).
      if (tag !== undefined && !isDepotTag(tag)) throw new DepotRefusal("deposit's 'tag' must be 16 hex digits");
      const size = blob.length; // base64: one byte per character
      if (size > this.#limits.maxBlobChars) throw new DepotRefusal(`deposit too large (${size} > ${this.#limits.maxBlobChars} characters)`);
      if (size > this.#limits.maxBytesPerTopic) throw new DepotRefusal(`depot full for this topic (${this.#limits.maxBytesPerTopic} bytes)`);
      await this.#index();
      const t = this.#topics.get(topic);
      if ((t?.sizes.size ?? 0) >= this.#limits.maxItemsPerTopic)
        throw new DepotRefusal(`depot full for this topic (${this.#limits.maxItemsPerTopic} deposits)`);
      if ((t?.bytes ?? 0) + size > this.#limits.maxBytesPerTopic) throw new DepotRefusal(`depot full for this topic (${this.#limits.maxBytesPerTopic} bytes)`);
      if (this.#items >= this.#limits.maxItemsTotal) throw new DepotRefusal(`depot full on this relay (${this.#limits.maxItemsTotal} deposits)`);
      if (this.#bytes + size > this.#limits.maxBytesTotal) throw new DepotRefusal(`depot full on this relay (${this.#limits.maxBytesTotal} bytes)`);
      // Time, then a counter: ids sort in arrival order, and the time is what expiry reads.
      const id = `${String(this.#now()).padStart(15, '0')}-${String(this.#counter++ % 1e6).padStart(6, '0')}-${this.#instance}${tag ? `-${tag}` : ''}`;
      await this.#storage.save(['depot', topic, id], encoder.encode(blob));
      this.#add(topic, id, size);
      return id;
    });
  }

  /**
   * The deposits waiting for `topic`, oldest first, from just after `after` (a deposit id; from the
   * start without one), at most `maxFetchChars` of blobs (at least one deposit), leaving out those
   * deposited with the tag `skip` (the fetching device's own).
   */
  fetch(topic: string, after?: string, skip?: string): Promise<DepositPage> {
    // In turn with acks and prunes: a listing must not race a removal (a file gone between list and read).
    return this.#serial(() => this.#fetch(topic, after, skip));
  }

  async #fetch(topic: string, after: string | undefined, skip: string | undefined): Promise<DepositPage> {
    const wanted = (id: string) => skip === undefined || tagOf(id) !== skip;
    await this.#index();
    if (after === undefined) {
      // From the start: re-read the topic, so deposits made through another relay sharing the store are found.
      const chunks = await this.#storage.loadRange(['depot', topic]);
      const stored = new Set<string>();
      for (const c of chunks) {
        if (c.key.length !== 3) continue;
        stored.add(c.key[2]!);
        this.#add(topic, c.key[2]!, c.data.length);
      }
      for (const id of [...(this.#topics.get(topic)?.sizes.keys() ?? [])]) if (!stored.has(id)) this.#drop(topic, id);
      const items = chunks
        .filter((c) => c.key.length === 3 && wanted(c.key[2]!))
        .map((c) => ({ id: c.key[2]!, blob: decoder.decode(c.data) }))
        .sort((a, b) => byId(a.id, b.id));
      return this.#page(items);
    }
    const ids = [...(this.#topics.get(topic)?.sizes.keys() ?? [])].filter((id) => id > after && wanted(id)).sort(byId);
    const items: Deposit[] = [];
    let chars = 0;
    for (const id of ids) {
      const size = this.#topics.get(topic)?.sizes.get(id) ?? 0;
      if (items.length > 0 && chars + size > this.#limits.maxFetchChars) return { items, more: true };
      const data = await this.#storage.load(['depot', topic, id]);
      if (!data) continue; // acknowledged meanwhile
      items.push({ id, blob: decoder.decode(data) });
      chars += size;
    }
    return { items, more: false };
  }

  /** The first page of `items` (sorted), at most `maxFetchChars` of blobs and at least one item. */
  #page(items: Deposit[]): DepositPage {
    let chars = 0;
    for (let i = 0; i < items.length; i++) {
      chars += items[i]!.blob.length;
      if (i > 0 && chars > this.#limits.maxFetchChars) return { items: items.slice(0, i), more: true };
    }
    return { items, more: false };
  }

  /**
   * The recipient has them: delete. Only ids the index holds for `topic` touch storage (a fetch on this
   * relay indexed what it listed); others are ignored, so an ack costs no more than what it deletes.
   */
  ack(topic: string, ids: string[]): Promise<void> {
    if (ids.length > this.#limits.maxAckIds) return Promise.reject(new DepotRefusal(`ack lists at most ${this.#limits.maxAckIds} ids`));
    return this.#serial(async () => {
      await this.#index();
      for (const id of new Set(ids)) {
        if (!this.#topics.get(topic)?.sizes.has(id)) continue;
        await this.#storage.remove(['depot', topic, id]);
        this.#drop(topic, id);
      }
    });
  }

  /** How many deposits are waiting, over all topics (read from the index: no storage reads). */
  async count(): Promise<number> {
    await this.#index();
    return this.#items;
  }

  /** Delete deposits older than the TTL (their ids carry the time: no bytes read). Returns how many went. */
  prune(): Promise<number> {
    return this.#serial(async () => {
      await this.#index();
      const before = this.#now() - this.#limits.ttlMs;
      let removed = 0;
      for (const [topic, t] of [...this.#topics]) {
        for (const id of [...t.sizes.keys()]) {
          if (Number(id.slice(0, 15)) < before) {
            await this.#storage.remove(['depot', topic, id]);
            this.#drop(topic, id);
            removed++;
          }
        }
      }
      return removed;
    });
  }
}
