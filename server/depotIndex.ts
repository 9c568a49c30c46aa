/**
 * The depot's index: for every topic, its deposit ids and their sizes, with per-topic and global
 * totals. Quota checks, `count`, `prune` and fetch listings read it instead of the deposits. One relay
 * keeps it in memory ({@link MemoryDepotIndex}); relays sharing one Redis share it there
 * (`RedisDepotIndex`), so the caps hold over all of them.
 *
 * A deposit is reserved (counted, not yet listed) before its bytes are written, and committed (listed)
 * after: a relay that stops between the steps leaves a pending reservation, never uncounted bytes; the
 * depot's sweep commits or releases it. A build (a listing of storage's keys added with `addFound`)
 * runs between `beginBuild` and `markBuilt`: ids released meanwhile, through any relay, are remembered
 * until every build in progress ended, so a listing taken before an ack cannot add the acked deposit back.
 *
 * A deposit may list its readers (entries `tag:check`, or a bare `tag` from earlier clients,
 * `src/depot/wire.ts`): an ack proving a listed reader (a token whose check an entry lists, or the tag
 * of a bare entry) records that reader's tag, and the deposit is released once every reader acked;
 * `entries` for a reader leaves out what it acked. The index also keeps, per topic, when each reader
 * last acked: at the topic's cap, `evictSilent` releases deposits only readers silent for long still
 * hold; a reader no deposit lists any more is forgotten there (so that record is bounded by what the
 * topic's deposits list), known from a count per tag of the deposits listing it, so a release reads only
 * its own deposit's readers. A deposit without readers goes at the first ack (as before readers); an ack without a
 * tag releases only those. An ack with a tag the deposit does not list changes nothing: what a deposit
 * records is bounded by its readers.
 * @module
 */
import { readerCheckOf, readerTagOf } from '../src/depot/wire.js';
import type { DepotLimits } from './depot.js';

/** A deposit the index holds: its topic, id and size (bytes). */
export interface IndexedDeposit {
  topic: string;
  id: string;
  size: number;
  /** The reader entries (`tag:check` or `tag`) that must each ack it before it goes; none: the first ack releases it. */
  readers?: string[];
  /** The tags of the readers that acked it already (a build reads them back from storage). */
  acked?: string[];
}

/** What an ack did: the deposits released (id → size), and those kept for other readers (id → the readers that acked so far). */
export interface AckOutcome {
  released: Map<string, number>;
  kept: Map<string, string[]>;
}

/** Where the depot keeps its index (see the module comment). */
export interface DepotIndex {
  /** Whether the index has been built from storage (in memory: since this start; in Redis: ever). */
  isBuilt(): Promise<boolean>;
  /**
   * A build starts (`build`: its name, unique; `now`, ms): from now until its `markBuilt`, ids released
   * are remembered, so its `addFound` leaves them out. A build not ended by `leaseUntil` is forgotten.
   */
  beginBuild(build: string, now: number, leaseUntil: number): Promise<void>;
  /**
   * Record deposits found in storage while building: no caps; an id already held (listed or pending)
   * is left as it is, and one released since a build began is left out.
   */
  addFound(deposits: IndexedDeposit[]): Promise<void>;
  /** Build `build` is complete (and the index is built). */
  markBuilt(build: string, now: number): Promise<void>;
  /** The refusal's text if a cap would not allow `deposit` now (records nothing; `reserve` decides). */
  refusal(deposit: IndexedDeposit, limits: DepotLimits): Promise<string | undefined>;
  /**
   * Reserve room for a new deposit, pending (counted by every cap and total, not listed by `entries`),
   * if every cap still allows it, atomically with the check; otherwise record nothing and return the
   * refusal's text.
   */
  reserve(deposit: IndexedDeposit, limits: DepotLimits): Promise<string | undefined>;
  /** Its bytes are stored: list a pending deposit. False when it is not pending (a sweep released it). */
  commit(topic: string, id: string): Promise<boolean>;
  /** At most `max` pending deposits reserved before `time` (ms), oldest first. */
  pendingBefore(time: number, max: number): Promise<IndexedDeposit[]>;
  /**
   * Forget `ids` of `topic`, listed or pending; returns those it held, with their sizes (the others were
   * released already, or never held). `now` (ms): builds whose lease ended are over. `pendingOnly`:
   * only those still pending (the sweep: one listed since it looked has its bytes stored).
   */
  release(topic: string, ids: string[], now: number, pendingOnly?: boolean): Promise<Map<string, number>>;
  /**
   * An ack of `ids` of `topic` (only listed ones count), by `tag` and with `checks` (the hashed token
   * for each id, by position; '' for none): each without readers is released as by `release`; one
   * with a reader entry the ack proves (its check equal to the hash of the token given for it; a bare entry: equal to `tag`) records that reader's tag (and the time
   * it was heard from, `now`), and is released once every reader acked. Ids not listed, and readers
   * not proven, change nothing.
   */
  ack(topic: string, ids: string[], tag: string | undefined, now: number, checks?: string[]): Promise<AckOutcome>;
  /**
   * Release `topic`'s listed deposits that some reader acked and whose other readers are all silent:
   * not heard from (an ack on the topic) nor listed on a deposit made within `idleMs` of `now`.
   * Returns them with their sizes.
   */
  evictSilent(topic: string, now: number, idleMs: number): Promise<Map<string, number>>;
  /** `topic`'s listed deposits (committed): id → size; with `reader`, leaving out those it acked. */
  entries(topic: string, reader?: string): Promise<Map<string, number>>;
  /** Deposits and bytes held, over every topic. */
  totals(): Promise<{ items: number; bytes: number }>;
  /** At most `max` deposits (listed or pending) made before `time` (ms), oldest first. */
  olderThan(time: number, max: number): Promise<{ topic: string; id: string }[]>;
}

/** A deposit id starts with its time, 15 digits of milliseconds: what expiry reads. */
export const timeOf = (id: string): number => Number(id.slice(0, 15));

/** The refusal texts, shared by every index so relays refuse alike. */
export const refusals = {
  topicItems: (l: DepotLimits) => `depot full for this topic (${l.maxItemsPerTopic} deposits)`,
  topicBytes: (l: DepotLimits) => `depot full for this topic (${l.maxBytesPerTopic} bytes)`,
  totalItems: (l: DepotLimits) => `depot full on this relay (${l.maxItemsTotal} deposits)`,
  totalBytes: (l: DepotLimits) => `depot full on this relay (${l.maxBytesTotal} bytes)`,
};

/**
 * One topic's deposits in memory: sizes (listed and pending), which are pending, readers and their
 * acks, when each reader last acked, and how many deposits list each tag (`listed`: what lets a
 * release forget a tag no deposit lists any more without reading the others).
 */
interface Topic {
  sizes: Map<string, number>;
  pending: Set<string>;
  bytes: number;
  readers: Map<string, { readers: string[]; acked: Set<string> }>;
  heard: Map<string, number>;
  listed: Map<string, number>;
}

/** The distinct tags a deposit's reader entries name. */
const tagsOf = (readers: readonly string[]): string[] => [...new Set(readers.map(readerTagOf))];

/**
 * A deposit listing `readers` went: each tag it named is listed by one deposit fewer, and one no
 * deposit lists any more is forgotten, with when it was heard from (only listed readers' times are
 * read by `evictSilent`; one listed again later counts from that deposit's time). So `heard` holds at
 * most the tags the topic's deposits list, however many a client makes up and acks, at a cost of the
 * deposit's own tags. The memory index is rebuilt from storage at a start (`addFound`), so every
 * deposit it holds was counted: a count is never missing.
 */
function unlist(t: Topic, readers: readonly string[]): void {
  for (const tag of tagsOf(readers)) {
    const n = (t.listed.get(tag) ?? 0) - 1;
    if (n > 0) t.listed.set(tag, n);
    else {
      t.listed.delete(tag);
      t.heard.delete(tag);
    }
  }
}

/** Whether every reader acked. */
const allAcked = (r: { readers: string[]; acked: Set<string> }): boolean => r.readers.every((e) => r.acked.has(readerTagOf(e)));

/**
 * The tag of the reader entry an ack proves, if any: an entry with a check only by that check (the
 * hash of the token sealed to its device), a bare entry (earlier clients) by its tag.
 */
export function provenReader(readers: readonly string[], tag: string | undefined, check: string | undefined): string | undefined {
  for (const e of readers) {
    const listed = readerCheckOf(e);
    if (listed !== undefined ? check !== undefined && check === listed : tag !== undefined && readerTagOf(e) === tag) return readerTagOf(e);
  }
  return undefined;
}

/**
 * Whether a deposit (made at `time`, acked so far by `acked`) waits only for readers silent past
 * `idleMs`: some reader acked it, and each missing one was last heard from (or listed) before then.
 */
export function heldBySilent(
  r: { readers: string[]; acked: Set<string> },
  time: number,
  heard: (tag: string) => number | undefined,
  now: number,
  idleMs: number,
): boolean {
  if (r.acked.size === 0) return false;
  return r.readers.every((e) => {
    const tag = readerTagOf(e);
    return r.acked.has(tag) || now - Math.max(heard(tag) ?? 0, time) > idleMs;
  });
}

/** The index of one relay, in memory: rebuilt from storage after a start. */
export class MemoryDepotIndex implements DepotIndex {
  readonly #topics = new Map<string, Topic>();
  #items = 0;
  #bytes = 0;
  #built = false;
  /** Builds in progress (→ when their lease ends), and the ids released since the first of them began (`topic/id`). */
  readonly #builds = new Map<string, number>();
  readonly #gone = new Set<string>();

  async isBuilt(): Promise<boolean> {
    return this.#built;
  }

  async beginBuild(build: string, now: number, leaseUntil: number): Promise<void> {
    // The first of a new round forgets the last round's ids, as in Redis.
    if (!this.#building(now)) this.#gone.clear();
    this.#builds.set(build, leaseUntil);
  }

  /** Whether a build is in progress at `now`: one whose lease ended (its listing failed, say) is over. */
  #building(now: number): boolean {
    for (const [build, until] of this.#builds) if (until <= now) this.#builds.delete(build);
    return this.#builds.size > 0;
  }

  async addFound(deposits: IndexedDeposit[]): Promise<void> {
    for (const d of deposits) if (!this.#gone.has(`${d.topic}/${d.id}`)) this.#add(d, false);
  }

  async markBuilt(build: string, now: number): Promise<void> {
    this.#builds.delete(build);
    if (!this.#building(now)) this.#gone.clear();
    this.#built = true;
  }

  async refusal(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    return this.#refusal(d, limits);
  }

  #refusal(d: IndexedDeposit, limits: DepotLimits): string | undefined {
    const t = this.#topics.get(d.topic);
    if ((t?.sizes.size ?? 0) >= limits.maxItemsPerTopic) return refusals.topicItems(limits);
    if ((t?.bytes ?? 0) + d.size > limits.maxBytesPerTopic) return refusals.topicBytes(limits);
    if (this.#items >= limits.maxItemsTotal) return refusals.totalItems(limits);
    if (this.#bytes + d.size > limits.maxBytesTotal) return refusals.totalBytes(limits);
    return undefined;
  }

  async reserve(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    const refused = this.#refusal(d, limits); // checked and recorded in one step
    if (!refused) this.#add(d, true);
    return refused;
  }

  async commit(topic: string, id: string): Promise<boolean> {
    return this.#topics.get(topic)?.pending.delete(id) ?? false;
  }

  async pendingBefore(time: number, max: number): Promise<IndexedDeposit[]> {
    const out: IndexedDeposit[] = [];
    for (const [topic, t] of this.#topics) for (const id of t.pending) if (timeOf(id) < time) out.push({ topic, id, size: t.sizes.get(id)! });
    return out.sort((a, b) => timeOf(a.id) - timeOf(b.id)).slice(0, max);
  }

  #add({ topic, id, size, readers, acked }: IndexedDeposit, pending: boolean): void {
    let t = this.#topics.get(topic);
    if (!t) this.#topics.set(topic, (t = { sizes: new Map(), pending: new Set(), bytes: 0, readers: new Map(), heard: new Map(), listed: new Map() }));
    if (t.sizes.has(id)) return;
    t.sizes.set(id, size);
    if (pending) t.pending.add(id);
    if (readers?.length) {
      t.readers.set(id, { readers: [...readers], acked: new Set((acked ?? []).filter((a) => readers.some((e) => readerTagOf(e) === a))) });
      for (const tag of tagsOf(readers)) t.listed.set(tag, (t.listed.get(tag) ?? 0) + 1);
    }
    t.bytes += size;
    this.#items++;
    this.#bytes += size;
  }

  async release(topic: string, ids: string[], now: number, pendingOnly = false): Promise<Map<string, number>> {
    const t = this.#topics.get(topic);
    const out = new Map<string, number>();
    const building = this.#building(now);
    for (const id of ids) {
      if (building) this.#gone.add(`${topic}/${id}`);
      const size = t?.sizes.get(id);
      if (!t || size === undefined || (pendingOnly && !t.pending.has(id))) continue;
      t.sizes.delete(id);
      t.pending.delete(id);
      const r = t.readers.get(id);
      if (r) {
        t.readers.delete(id);
        unlist(t, r.readers);
      }
      t.bytes -= size;
      this.#items--;
      this.#bytes -= size;
      out.set(id, size);
    }
    if (t && t.sizes.size === 0) this.#topics.delete(topic);
    return out;
  }

  /** How many readers `topic` remembers hearing from (at most the tags its deposits list): for tests and metrics. */
  heardCount(topic: string): number {
    return this.#topics.get(topic)?.heard.size ?? 0;
  }

  /** How many of `topic`'s deposits list each tag (tag → count): for tests and metrics. */
  listedCounts(topic: string): Map<string, number> {
    return new Map(this.#topics.get(topic)?.listed);
  }

  async ack(topic: string, ids: string[], tag: string | undefined, now: number, checks?: string[]): Promise<AckOutcome> {
    const t = this.#topics.get(topic);
    const go = new Set<string>();
    const kept = new Map<string, string[]>();
    ids.forEach((id, i) => {
      if (!t || !t.sizes.has(id) || t.pending.has(id) || go.has(id)) return;
      const r = t.readers.get(id);
      if (!r) return go.add(id);
      const reader = provenReader(r.readers, tag, checks?.[i] || undefined);
      if (reader === undefined) return;
      r.acked.add(reader);
      t.heard.set(reader, now);
      if (allAcked(r)) {
        go.add(id);
        kept.delete(id);
      } else kept.set(id, [...r.acked].sort());
    });
    return { released: await this.release(topic, [...go], now), kept };
  }

  async evictSilent(topic: string, now: number, idleMs: number): Promise<Map<string, number>> {
    const t = this.#topics.get(topic);
    if (!t) return new Map();
    const go = [...t.readers].filter(([id, r]) => !t.pending.has(id) && heldBySilent(r, timeOf(id), (tag) => t.heard.get(tag), now, idleMs));
    return this.release(
      topic,
      go.map(([id]) => id),
      now,
    );
  }

  async entries(topic: string, reader?: string): Promise<Map<string, number>> {
    const t = this.#topics.get(topic);
    const acked = (id: string) => reader !== undefined && t!.readers.get(id)?.acked.has(reader) === true;
    return new Map([...(t?.sizes ?? [])].filter(([id]) => !t!.pending.has(id) && !acked(id)));
  }

  async totals(): Promise<{ items: number; bytes: number }> {
    return { items: this.#items, bytes: this.#bytes };
  }

  async olderThan(time: number, max: number): Promise<{ topic: string; id: string }[]> {
    const out: { topic: string; id: string }[] = [];
    for (const [topic, t] of this.#topics) for (const id of t.sizes.keys()) if (timeOf(id) < time) out.push({ topic, id });
    return out.sort((a, b) => timeOf(a.id) - timeOf(b.id)).slice(0, max);
  }
}
