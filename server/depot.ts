/**
 * The depot: while a contact is offline, a device deposits sealed sync data under the contact's topic;
 * the relay keeps it (TTL, per-topic quotas) until the contact fetches and acknowledges it. Blobs are
 * opaque sealed bytes: the relay never sees plaintext. (The seed calls this the "Mailbox"; here
 * "mailbox" means only the magic-wormhole mailbox used for pairing.) Frames: `src/depot/wire.ts`.
 *
 * Stored through a {@link StorageAdapter} under `['depot', topic, id]`, ids ordered by arrival, so
 * with `NodeFsStorage` the depot survives a relay restart with nothing lost.
 *
 * An index (topic → id → size, with per-topic and global totals; `server/depotIndex.ts`) answers every
 * quota check, `count`, `prune` and fetch listing: nothing reads a deposit it does not return. At the
 * first request after a start it is reconciled with a listing of the storage's keys (a deposit's id
 * carries its size): in memory that builds it; relays sharing one Redis share it there
 * (`RedisDepotIndex`), so the caps hold over all of them, and the listing adds what a relay of an
 * earlier version stored without indexing. Relays sharing a store must share the index too.
 *
 * A deposit is reserved in the index (counted) before its bytes are written and listed after, so a
 * relay that stops between the steps never leaves bytes uncounted: at the start and at every prune, a
 * sweep lists a reservation older than `writeGraceMs` whose bytes are there, and releases one whose
 * bytes are not.
 * @module
 */
import { isDepotTag, type DepositItem } from '../src/depot/wire.js';
import type { StorageAdapter, StorageKey } from '../src/effects/storage.js';
import { MemoryDepotIndex, refusals, type DepotIndex, type IndexedDeposit } from './depotIndex.js';

/** The bounds the depot enforces: how long deposits are kept, how many and how large, per topic and in all. */
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
  /**
   * How long a deposit's bytes may take to be written after its room was reserved: an older
   * reservation is a relay that stopped between the steps, and the sweep settles it.
   */
  writeGraceMs: number;
}

/** The depot limits used when none are given. */
export const DEFAULT_DEPOT_LIMITS: Readonly<DepotLimits> = Object.freeze({
  ttlMs: 14 * 24 * 60 * 60_000,
  maxItemsPerTopic: 1_000,
  maxBytesPerTopic: 16 * 1024 * 1024,
  maxBlobChars: 1024 * 1024,
  maxBytesTotal: 1024 * 1024 * 1024,
  maxItemsTotal: 200_000,
  maxFetchChars: 1024 * 1024,
  maxAckIds: 1_000,
  writeGraceMs: 60_000,
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

/**
 * What a deposit id says besides its time: `time-counter-instance-sSIZE[-tag]` (ids minted before
 * sizes were in them have no `sSIZE`). The size lets the index be built from a key listing alone.
 */
function parseId(id: string): { size?: number; tag?: string } {
  const parts = id.split('-');
  if (parts[3]?.startsWith('s')) {
    const size = Number(parts[3].slice(1));
    return { size: Number.isSafeInteger(size) && size >= 0 ? size : undefined, tag: parts[4] };
  }
  return { tag: parts[3] };
}

/** How many deposits one step of a build or a prune handles. */
const BATCH = 256;
/** How long a build may take before other relays stop keeping its acked ids aside for it. */
const BUILD_LEASE_MS = 10 * 60_000;

/** Sealed deposits kept for offline contacts, by topic, until fetched and acknowledged or expired. */
export class Depot {
  readonly #storage: StorageAdapter;
  readonly #limits: DepotLimits;
  readonly #now: () => number;
  readonly #index: DepotIndex;
  #counter = 0;
  /** Tells apart ids minted in the same millisecond by several relays sharing one store. */
  readonly #instance = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join('');
  /** Serialises writes, so quota checks and ids stay consistent. */
  #queue: Promise<unknown> = Promise.resolve();
  #built: Promise<void> | undefined;
  #builds = 0;
  #totals = { items: 0, bytes: 0 };

  /** `index`: where the index lives (default: in memory, this relay's alone). */
  constructor(options: { storage: StorageAdapter; limits?: Partial<DepotLimits>; now?: () => number; index?: DepotIndex }) {
    this.#storage = options.storage;
    this.#limits = { ...DEFAULT_DEPOT_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
    this.#index = options.index ?? new MemoryDepotIndex();
  }

  /** Deposits and bytes held, over every topic: as the last `count()` found them, plus what this relay changed since. */
  get totals(): { items: number; bytes: number } {
    return { ...this.#totals };
  }

  /** Build the index from a listing of storage's keys, once: the counters survive a restart. */
  #ready(): Promise<void> {
    this.#built ??= this.#build().catch((err: unknown) => {
      // A storage hiccup at the first request must not fail every later one: build again next time.
      this.#built = undefined;
      throw err;
    });
    return this.#built;
  }

  /**
   * Reconcile the index with a listing of storage's keys (what is stored but not indexed is added; an
   * ack through another relay meanwhile is not undone: see `beginBuild`), then settle reservations
   * left by a relay that stopped.
   */
  async #build(): Promise<void> {
    const build = `${this.#instance}-${this.#builds++}`;
    const now = this.#now();
    await this.#index.beginBuild(build, now, now + BUILD_LEASE_MS);
    const keys = (await this.#storage.listKeys(['depot'])).filter((k) => k.length === 3);
    for (let i = 0; i < keys.length; i += BATCH) {
      const found: IndexedDeposit[] = [];
      for (const key of keys.slice(i, i + BATCH)) {
        // Only ids minted before they carried their size are read, one at a time.
        const size = parseId(key[2]!).size ?? (await this.#storage.load(key))?.length;
        if (size !== undefined) found.push({ topic: key[1]!, id: key[2]!, size });
      }
      await this.#index.addFound(found);
    }
    await this.#index.markBuilt(build, this.#now());
    await this.#sweep();
    this.#totals = await this.#index.totals();
  }

  /** Reservations older than the grace: list those whose bytes are stored, release the others. */
  async #sweep(): Promise<void> {
    const before = this.#now() - this.#limits.writeGraceMs;
    for (let round = 0; round < Math.ceil(this.#limits.maxItemsTotal / BATCH) + 1; round++) {
      const stale = await this.#index.pendingBefore(before, BATCH);
      for (const d of stale) {
        if ((await this.#storage.load(['depot', d.topic, d.id])) !== undefined) await this.#index.commit(d.topic, d.id);
        // Only if still pending: another relay may have written and listed it since we looked.
        else this.#released(await this.#index.release(d.topic, [d.id], this.#now(), true));
      }
      if (stale.length < BATCH) break;
    }
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
      if (size > this.#limits.maxBytesPerTopic) throw new DepotRefusal(refusals.topicBytes(this.#limits));
      await this.#ready();
      // Time, then a counter: ids sort in arrival order, and the time is what expiry reads.
      const id = `${String(this.#now()).padStart(15, '0')}-${String(this.#counter++ % 1e6).padStart(6, '0')}-${this.#instance}-s${size}${tag ? `-${tag}` : ''}`;
      const deposit = { topic, id, size };
      // Reserved (counted) before the write, listed after it: a full topic costs no write, a fetch
      // never lists a deposit still being written, and a relay stopping in between leaves no
      // uncounted bytes (the sweep settles the reservation).
      const refused = await this.#index.reserve(deposit, this.#limits);
      if (refused) throw new DepotRefusal(refused);
      this.#totals.items++;
      this.#totals.bytes += size;
      const key: StorageKey = ['depot', topic, id];
      try {
        await this.#storage.save(key, encoder.encode(blob));
      } catch (err) {
        this.#released(await this.#index.release(topic, [id], this.#now()).catch(() => new Map<string, number>()));
        throw err;
      }
      if (!(await this.#index.commit(topic, id))) {
        // Written so late that a sweep released its room: take the bytes back.
        await this.#storage.remove(key).catch(() => {});
        throw new DepotRefusal('the deposit took too long to store, try again');
      }
      return id;
    });
  }

  /**
   * The deposits waiting for `topic`, oldest first, from just after `after` (a deposit id; from the
   * start without one), at most `maxFetchChars` of blobs (at least one deposit), leaving out those
   * deposited with the tag `skip` (the fetching device's own). Reads only the deposits it returns.
   */
  fetch(topic: string, after?: string, skip?: string): Promise<DepositPage> {
    // In turn with acks and prunes: a listing must not race a removal (a file gone between list and read).
    return this.#serial(() => this.#fetch(topic, after, skip));
  }

  async #fetch(topic: string, after: string | undefined, skip: string | undefined): Promise<DepositPage> {
    await this.#ready();
    const sizes = await this.#index.entries(topic);
    const ids = [...sizes.keys()].filter((id) => (after === undefined || id > after) && (skip === undefined || parseId(id).tag !== skip)).sort(byId);
    const items: Deposit[] = [];
    let chars = 0;
    for (const id of ids) {
      const size = sizes.get(id)!;
      if (items.length > 0 && chars + size > this.#limits.maxFetchChars) return { items, more: true };
      const data = await this.#storage.load(['depot', topic, id]);
      if (!data) continue; // acknowledged meanwhile (through another relay)
      items.push({ id, blob: decoder.decode(data) });
      chars += size;
    }
    return { items, more: false };
  }

  /**
   * The recipient has them: delete. Only ids the index holds for `topic` touch storage; others are
   * ignored, so an ack costs no more than what it deletes.
   */
  ack(topic: string, ids: string[]): Promise<void> {
    if (ids.length > this.#limits.maxAckIds) return Promise.reject(new DepotRefusal(`ack lists at most ${this.#limits.maxAckIds} ids`));
    return this.#serial(async () => {
      await this.#ready();
      const held = await this.#index.entries(topic);
      const gone = [...new Set(ids)].filter((id) => held.has(id));
      for (const id of gone) await this.#storage.remove(['depot', topic, id]);
      this.#released(await this.#index.release(topic, gone, this.#now()));
    });
  }

  /** Take released deposits off the totals; returns how many. */
  #released(sizes: Map<string, number>): number {
    for (const size of sizes.values()) {
      this.#totals.items--;
      this.#totals.bytes -= size;
    }
    return sizes.size;
  }

  /** How many deposits are waiting, over all topics (read from the index: no storage reads). */
  async count(): Promise<number> {
    await this.#ready();
    this.#totals = await this.#index.totals();
    return this.#totals.items;
  }

  /** Delete deposits older than the TTL (the index knows their times: no bytes read). Returns how many went. */
  prune(): Promise<number> {
    return this.#serial(async () => {
      await this.#ready();
      await this.#sweep();
      const before = this.#now() - this.#limits.ttlMs;
      let removed = 0;
      // Bounded: a batch either removes what it lists or ends the prune.
      for (let round = 0; round < Math.ceil(this.#limits.maxItemsTotal / BATCH) + 1; round++) {
        const old = await this.#index.olderThan(before, BATCH);
        if (old.length === 0) break;
        const byTopic = new Map<string, string[]>();
        for (const d of old) {
          await this.#storage.remove(['depot', d.topic, d.id]);
          byTopic.set(d.topic, [...(byTopic.get(d.topic) ?? []), d.id]);
        }
        for (const [topic, ids] of byTopic) removed += this.#released(await this.#index.release(topic, ids, this.#now()));
        if (old.length < BATCH) break;
      }
      return removed;
    });
  }
}
