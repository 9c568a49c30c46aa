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
 *
 * A deposit may list its readers (an entry per device of the recipient, at most
 * `MAX_DEPOSIT_READERS`: its opaque tag and the check of an ack token only that device can open,
 * `src/depot/wire.ts`): it goes once each of them acked (or at the TTL; or, the topic full, once
 * the readers still missing have been silent past `readerIdleMs`), and a reader's fetch (its tag as
 * `skip`) leaves out what it acked. The readers are kept beside the deposit, under
 * `['depot', 'readers', topic, id]`, and the acks so far under `['depot', 'acked', topic, id]` (one
 * listing finds them with the deposits), so a build (after a restart) reads them back: the id says
 * whether it has readers (`-rN`).
 * @module
 */
import {
  ACK_IDS_PROBLEM,
  ackCheck,
  isAckTokens,
  isDepotTag,
  isReaderEntry,
  isReaderTags,
  READERS_PROBLEM,
  TOKENS_PROBLEM,
  type DepositItem,
} from '../src/depot/wire.js';
import type { StorageAdapter, StorageKey } from '../src/effects/storage.js';
import { MemoryDepotIndex, refusals, timeOf, type DepotIndex, type IndexedDeposit } from './depotIndex.js';

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
  /**
   * A reader not heard from (no ack on the topic) for this long no longer holds a deposit every other
   * reader acked, once the topic is full: a lost device never unlinked cannot keep the topic's room
   * until the TTL and have honest deposits refused.
   */
  readerIdleMs: number;
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
  readerIdleMs: 7 * 24 * 60 * 60_000,
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
 * What a deposit id says besides its time: `time-counter-instance-sSIZE[-tag][-rN]` (ids minted before
 * sizes were in them have no `sSIZE`; `rN`: it lists N readers, kept beside it). The size lets the index
 * be built from a key listing alone.
 */
function parseId(id: string): { size?: number; tag?: string; readers: boolean } {
  const out: { size?: number; tag?: string; readers: boolean } = { readers: false };
  for (const part of id.split('-').slice(3)) {
    if (/^[0-9a-f]{16}$/.test(part)) out.tag = part;
    else if (/^r\d+$/.test(part)) out.readers = true;
    else if (part.startsWith('s')) {
      const size = Number(part.slice(1));
      out.size = Number.isSafeInteger(size) && size >= 0 ? size : undefined;
    }
  }
  return out;
}

/** Where a deposit's readers, and the readers that acked it so far, are kept beside it. */
const readersKey = (topic: string, id: string): StorageKey => ['depot', 'readers', topic, id];
const ackedKey = (topic: string, id: string): StorageKey => ['depot', 'acked', topic, id];
const listOf = (data: Uint8Array | undefined, valid: (v: string) => boolean): string[] => (data ? decoder.decode(data).split(',').filter(valid) : []);

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
    const listed = await this.#storage.listKeys(['depot']);
    const keys = listed.filter((k) => k.length === 3);
    for (let i = 0; i < keys.length; i += BATCH) {
      const found: IndexedDeposit[] = [];
      for (const key of keys.slice(i, i + BATCH)) {
        // Only ids minted before they carried their size are read, one at a time.
        const [topic, id] = [key[1]!, key[2]!];
        const parsed = parseId(id);
        const size = parsed.size ?? (await this.#storage.load(key))?.length;
        if (size === undefined) continue;
        // Its readers and their acks so far, read back (a small value each): only deposits listing readers.
        const readers = parsed.readers ? listOf(await this.#storage.load(readersKey(topic, id)), isReaderEntry) : [];
        const acked = readers.length > 0 ? listOf(await this.#storage.load(ackedKey(topic, id)), isDepotTag) : [];
        found.push({ topic, id, size, ...(readers.length > 0 ? { readers, acked } : {}) });
      }
      await this.#index.addFound(found);
    }
    await this.#index.markBuilt(build, this.#now());
    await this.#sweepBesides(
      listed.filter((k) => k.length === 4 && (k[1] === 'readers' || k[1] === 'acked')),
      new Set(keys.map((k) => `${k[1]}/${k[2]}`)),
    );
    await this.#sweep();
    this.#totals = await this.#index.totals();
  }

  /**
   * Readers and acks kept beside deposits that are gone (a relay that stopped between removals): older
   * than the grace, so a deposit being written now keeps its own. `besides`: their keys;
   * `stored`: `topic/id` of every deposit.
   */
  async #sweepBesides(besides: StorageKey[], stored: Set<string>): Promise<void> {
    const before = this.#now() - this.#limits.writeGraceMs;
    for (const key of besides) if (!stored.has(`${key[2]}/${key[3]}`) && timeOf(key[3]!) < before) await this.#storage.remove(key);
  }

  /** Remove a deposit's bytes, and what is kept beside it. */
  async #remove(topic: string, id: string): Promise<void> {
    await this.#storage.remove(['depot', topic, id]);
    if (parseId(id).readers) {
      await this.#storage.remove(readersKey(topic, id));
      await this.#storage.remove(ackedKey(topic, id));
    }
  }

  /** Reservations older than the grace: list those whose bytes are stored, release the others. */
  async #sweep(): Promise<void> {
    const before = this.#now() - this.#limits.writeGraceMs;
    for (let round = 0; round < Math.ceil(this.#limits.maxItemsTotal / BATCH) + 1; round++) {
      const stale = await this.#index.pendingBefore(before, BATCH);
      for (const d of stale) {
        if ((await this.#storage.load(['depot', d.topic, d.id])) !== undefined) await this.#index.commit(d.topic, d.id);
        // Only if still pending: another relay may have written and listed it since we looked.
        else if (this.#released(await this.#index.release(d.topic, [d.id], this.#now(), true)) > 0) await this.#remove(d.topic, d.id);
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
   * `readers` (distinct tags, at most `MAX_DEPOSIT_READERS`): it stays until each of them acked.
   */
  deposit(topic: string, blob: string, tag?: string, readers?: string[]): Promise<string> {
    return this.#serial(async () => {
      // The tag becomes part of a storage key: only the wire's form (its guard checked it already).
      if (tag !== undefined && !isDepotTag(tag)) throw new DepotRefusal("deposit's 'tag' must be 16 hex digits");
      if (readers !== undefined && !isReaderTags(readers)) throw new DepotRefusal(READERS_PROBLEM);
      const size = blob.length; // base64: one byte per character
      if (size > this.#limits.maxBlobChars) throw new DepotRefusal(`deposit too large (${size} > ${this.#limits.maxBlobChars} characters)`);
      if (size > this.#limits.maxBytesPerTopic) throw new DepotRefusal(refusals.topicBytes(this.#limits));
      await this.#ready();
      // Time, then a counter: ids sort in arrival order, and the time is what expiry reads.
      const id = `${String(this.#now()).padStart(15, '0')}-${String(this.#counter++ % 1e6).padStart(6, '0')}-${this.#instance}-s${size}${tag ? `-${tag}` : ''}${readers ? `-r${readers.length}` : ''}`;
      const deposit: IndexedDeposit = { topic, id, size, ...(readers ? { readers } : {}) };
      // Reserved (counted) before the write, listed after it: a full topic costs no write, a fetch
      // never lists a deposit still being written, and a relay stopping in between leaves no
      // uncounted bytes (the sweep settles the reservation).
      let refused = await this.#index.reserve(deposit, this.#limits);
      if (refused === refusals.topicItems(this.#limits) || refused === refusals.topicBytes(this.#limits)) {
        // The topic is full: what only silent readers still hold goes first (see `readerIdleMs`).
        if ((await this.#evictSilent(topic)) > 0) refused = await this.#index.reserve(deposit, this.#limits);
      }
      if (refused) throw new DepotRefusal(refused);
      this.#totals.items++;
      this.#totals.bytes += size;
      const key: StorageKey = ['depot', topic, id];
      try {
        // Its readers first: a build finding the deposit finds them too.
        if (readers) await this.#storage.save(readersKey(topic, id), encoder.encode(readers.join(',')));
        await this.#storage.save(key, encoder.encode(blob));
      } catch (err) {
        this.#released(await this.#index.release(topic, [id], this.#now()).catch(() => new Map<string, number>()));
        await this.#remove(topic, id).catch(() => {});
        throw err;
      }
      if (!(await this.#index.commit(topic, id))) {
        // Written so late that a sweep released its room: take the bytes back.
        await this.#remove(topic, id).catch(() => {});
        throw new DepotRefusal('the deposit took too long to store, try again');
      }
      return id;
    });
  }

  /**
   * The deposits waiting for `topic`, oldest first, from just after `after` (a deposit id; from the
   * start without one), at most `maxFetchChars` of blobs (at least one deposit), leaving out those
   * deposited with the tag `skip` (the fetching device's own) or with one of `mine` (its other devices':
   * in a contact's channel, theirs are for the contact), and those it acked as a reader. Reads only the
   * deposits it returns.
   */
  fetch(topic: string, after?: string, skip?: string, mine: readonly string[] = []): Promise<DepositPage> {
    // In turn with acks and prunes: a listing must not race a removal (a file gone between list and read).
    return this.#serial(() => this.#fetch(topic, after, skip, mine));
  }

  async #fetch(topic: string, after: string | undefined, skip: string | undefined, mine: readonly string[]): Promise<DepositPage> {
    await this.#ready();
    const sizes = await this.#index.entries(topic, skip);
    const leftOut = new Set([...(skip === undefined ? [] : [skip]), ...mine]);
    const ids = [...sizes.keys()]
      .filter((id) => {
        const { tag } = parseId(id);
        return (after === undefined || id > after) && (tag === undefined || !leftOut.has(tag));
      })
      .sort(byId);
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
   * Deposits listed only for readers silent past `readerIdleMs` (every other reader acked): released,
   * their bytes removed. Returns how many went.
   */
  async #evictSilent(topic: string): Promise<number> {
    const released = await this.#index.evictSilent(topic, this.#now(), this.#limits.readerIdleMs);
    for (const id of released.keys()) await this.#remove(topic, id);
    return this.#released(released);
  }

  /**
   * The recipient has them. A deposit without readers is deleted (an ack with neither tag nor token
   * deletes only those); one listing readers records the reader an ack proves — the entry whose check
   * is `ackCheck(tokens[i])`, or a bare entry equal to `tag` (earlier clients) — and is deleted once
   * every reader acked. Only ids the index lists for `topic` touch storage; other ids, tags and tokens
   * a deposit does not list are ignored, so an ack costs no more than what it changes.
   */
  ack(topic: string, ids: string[], tag?: string, tokens?: string[]): Promise<void> {
    if (ids.length > this.#limits.maxAckIds) return Promise.reject(new DepotRefusal(`ack lists at most ${this.#limits.maxAckIds} ids`));
    if (new Set(ids).size !== ids.length) return Promise.reject(new DepotRefusal(ACK_IDS_PROBLEM));
    if (tag !== undefined && !isDepotTag(tag)) return Promise.reject(new DepotRefusal("ack's 'tag' must be 16 hex digits"));
    if (tokens !== undefined && !isAckTokens(tokens, ids)) return Promise.reject(new DepotRefusal(TOKENS_PROBLEM));
    // Hashed here: the index compares checks, never tokens.
    const checks = tokens?.map((t) => (t === '' ? '' : ackCheck(t)));
    return this.#serial(async () => {
      await this.#ready();
      // The index decides (atomically, over every relay on it); the bytes go after. A relay stopping
      // in between leaves bytes a later build lists again: served once more, harmless (applying is idempotent).
      const { released, kept } = await this.#index.ack(topic, ids, tag, this.#now(), checks);
      for (const id of released.keys()) await this.#remove(topic, id);
      for (const [id, acked] of kept) await this.#storage.save(ackedKey(topic, id), encoder.encode(acked.join(',')));
      this.#released(released);
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
          await this.#remove(d.topic, d.id);
          byTopic.set(d.topic, [...(byTopic.get(d.topic) ?? []), d.id]);
        }
        for (const [topic, ids] of byTopic) removed += this.#released(await this.#index.release(topic, ids, this.#now()));
        if (old.length < BATCH) break;
      }
      return removed;
    });
  }
}
