/**
 * The depot's index: for every topic, its deposit ids and their sizes, with per-topic and global
 * totals. Quota checks, `count`, `prune` and fetch listings read it instead of the deposits. One relay
 * keeps it in memory ({@link MemoryDepotIndex}); relays sharing one Redis share it there
 * (`RedisDepotIndex`), so the caps hold over all of them.
 * @module
 */
import type { DepotLimits } from './depot.js';

/** A deposit the index holds: its topic, id and size (bytes). */
export interface IndexedDeposit {
  topic: string;
  id: string;
  size: number;
}

/** Where the depot keeps its index (see the module comment). */
export interface DepotIndex {
  /** Whether the index has been built from storage (in memory: since this start; in Redis: ever). */
  isBuilt(): Promise<boolean>;
  /** Record deposits found in storage while building: no caps, an id already held is left as it is. */
  addFound(deposits: IndexedDeposit[]): Promise<void>;
  /** The build is complete. */
  markBuilt(): Promise<void>;
  /** The refusal's text if a cap would not allow `deposit` now (records nothing; `reserve` decides). */
  refusal(deposit: IndexedDeposit, limits: DepotLimits): Promise<string | undefined>;
  /**
   * Record a new deposit if every cap still allows it, atomically with the check; otherwise record
   * nothing and return the refusal's text.
   */
  reserve(deposit: IndexedDeposit, limits: DepotLimits): Promise<string | undefined>;
  /** Forget `ids` of `topic`; returns those it held, with their sizes (the others were released already, or never held). */
  release(topic: string, ids: string[]): Promise<Map<string, number>>;
  /** `topic`'s deposits: id → size. */
  entries(topic: string): Promise<Map<string, number>>;
  /** Deposits and bytes held, over every topic. */
  totals(): Promise<{ items: number; bytes: number }>;
  /** At most `max` deposits made before `time` (ms), oldest first. */
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

/** The index of one relay, in memory: rebuilt from storage after a start. */
export class MemoryDepotIndex implements DepotIndex {
  readonly #topics = new Map<string, { sizes: Map<string, number>; bytes: number }>();
  #items = 0;
  #bytes = 0;
  #built = false;

  async isBuilt(): Promise<boolean> {
    return this.#built;
  }

  async addFound(deposits: IndexedDeposit[]): Promise<void> {
    for (const d of deposits) this.#add(d);
  }

  async markBuilt(): Promise<void> {
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
    if (!refused) this.#add(d);
    return refused;
  }

  #add({ topic, id, size }: IndexedDeposit): void {
    let t = this.#topics.get(topic);
    if (!t) this.#topics.set(topic, (t = { sizes: new Map(), bytes: 0 }));
    if (t.sizes.has(id)) return;
    t.sizes.set(id, size);
    t.bytes += size;
    this.#items++;
    this.#bytes += size;
  }

  async release(topic: string, ids: string[]): Promise<Map<string, number>> {
    const t = this.#topics.get(topic);
    const out = new Map<string, number>();
    for (const id of ids) {
      const size = t?.sizes.get(id);
      if (!t || size === undefined) continue;
      t.sizes.delete(id);
      t.bytes -= size;
      this.#items--;
      this.#bytes -= size;
      out.set(id, size);
    }
    if (t && t.sizes.size === 0) this.#topics.delete(topic);
    return out;
  }

  async entries(topic: string): Promise<Map<string, number>> {
    return new Map(this.#topics.get(topic)?.sizes);
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
