/**
 * Nameplates and mailboxes (VERIFY's relay state) in Redis, so two people can pair through different
 * relay processes: Alice's relay allocates the nameplate, Bob's claims it, and each relay hands the
 * other's `add`s to its own clients.
 *
 * The rules are {@link MemoryMailboxStore}'s (wormhole-mailbox-server's `server.py`); the records are
 * small JSON values, one per nameplate and per mailbox, changed in optimistic transactions (`WATCH` the
 * record, read, decide, `MULTI`/`EXEC`, retry when another relay changed it meanwhile). Messages sit
 * in a list per mailbox; each `add` is also published, with its index, for the relays whose clients
 * listen to that mailbox (`watch`).
 *
 *   <ns>:np:<appid>:<nameplate>   {mailbox, sides: {side: {claimed, added}}}
 *   <ns>:mb:<appid>:<mailbox>     {forNameplate, updated, sides: {side: {opened, mood}}, count, bytes}
 *   <ns>:msgs:<appid>:<mailbox>   list of StoredMessage JSON
 *   <ns>:nps:<appid>, <ns>:mbs:<appid>, <ns>:apps   index sets (listing, limits, pruning)
 *   <ns>:bytes                    the bytes held, counted as the memory store counts them (store.ts)
 *
 * The byte budget (`maxStoreBytes`) and the appid quota are read, not watched, inside each
 * transaction: relays writing at the same instant may overshoot them by about one record each.
 *   channel <ns>:added:<appid>:<mailbox>   {relay, index, message}
 * @module
 */
import type { Redis } from 'ioredis';
import { RecentlyFreed } from './nameplateReuse.js';
import {
  mailboxBytes,
  mailboxId,
  messageBytes,
  nameplateBytes,
  randomBelow,
  STORE_FULL,
  StoreCrowdedError,
  StoreLimitError,
  StoreReclaimedError,
  type MailboxStore,
  type StoreLimits,
  type StoredMessage,
  type StoreStats,
} from './store.js';

interface NameplateRecord {
  mailbox: string;
  sides: Record<string, { claimed: boolean; added: number }>;
  bytes: number;
}
interface MailboxRecord {
  forNameplate: boolean;
  updated: number;
  sides: Record<string, { opened: boolean; mood?: string }>;
  count: number;
  /** Its own record plus its messages. */
  bytes: number;
}

export interface RedisMailboxStoreOptions {
  redis: Redis;
  /** A second connection, only for SUBSCRIBE. */
  subscriber: Redis;
  limits: StoreLimits;
  randomBytes: (n: number) => Uint8Array;
  /** This relay, so it can tell its own published adds from other relays'. */
  relayId: string;
  namespace?: string;
}

/** Another relay changed a record between our read and our write: read again. */
class Conflict extends Error {}
/** The nameplate we meant to allocate was allocated through another relay first. */
class Taken extends Error {}
const MAX_RETRIES = 50;

export class RedisMailboxStore implements MailboxStore {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #limits: StoreLimits;
  readonly #randomBytes: (n: number) => Uint8Array;
  readonly #recentlyFreed = new RecentlyFreed();
  readonly #relayId: string;
  readonly #ns: string;
  /** WATCH belongs to a connection: this process runs one transaction at a time on it. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #watchers = new Map<string, Set<(m: StoredMessage, index: number) => void>>();

  constructor(options: RedisMailboxStoreOptions) {
    this.#redis = options.redis;
    this.#sub = options.subscriber;
    this.#limits = options.limits;
    this.#randomBytes = options.randomBytes;
    this.#relayId = options.relayId;
    this.#ns = options.namespace ?? 'backchannel';
    this.#sub.on('message', (channel: string, text: string) => this.#onAdded(channel, text));
  }

  #np = (appid: string, name: string) => `${this.#ns}:np:${appid}:${name}`;
  #mb = (appid: string, id: string) => `${this.#ns}:mb:${appid}:${id}`;
  #msgs = (appid: string, id: string) => `${this.#ns}:msgs:${appid}:${id}`;
  #nps = (appid: string) => `${this.#ns}:nps:${appid}`;
  #mbs = (appid: string) => `${this.#ns}:mbs:${appid}`;
  #added = (appid: string, id: string) => `${this.#ns}:added:${appid}:${id}`;
  get #apps() {
    return `${this.#ns}:apps`;
  }
  get #bytes() {
    return `${this.#ns}:bytes`;
  }

  /** Refuse growth by `delta` bytes past the budget, or a new appid past the appid quota. */
  async #budget(appid: string, delta: number): Promise<void> {
    if (delta > 0 && Number((await this.#redis.get(this.#bytes)) ?? 0) + delta > this.#limits.maxStoreBytes) {
      throw new StoreLimitError('store-full', STORE_FULL);
    }
    if (!(await this.#redis.sismember(this.#apps, appid)) && (await this.#redis.scard(this.#apps)) >= this.#limits.maxAppids) {
      throw new StoreLimitError('too-many-appids', 'too many appids in use, try later');
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Run `body` as one optimistic transaction over the records in `keys`: it reads them (watched),
   * decides, and queues writes on `multi`; a change by another relay in between makes us start over.
   */
  async #transact<T>(keys: string[], body: (records: (string | null)[], multi: ReturnType<Redis['multi']>) => Promise<T> | T): Promise<T> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      await this.#redis.watch(...keys);
      try {
        const records = await this.#redis.mget(...keys);
        const multi = this.#redis.multi();
        const result = await body(records, multi);
        const done = await multi.exec();
        if (done === null) throw new Conflict();
        return result;
      } catch (err) {
        await this.#redis.unwatch();
        if (!(err instanceof Conflict)) throw err;
      }
    }
    throw new StoreLimitError('store-busy', 'the relay store is too busy, try again');
  }

  async listNameplates(appid: string): Promise<string[]> {
    return (await this.#redis.smembers(this.#nps(appid))).sort();
  }

  allocateNameplate(appid: string, side: string, now: number): Promise<string> {
    return this.#serial(async () => {
      // Another relay may take the id we picked before our claim lands: then pick again.
      for (let round = 0; round < MAX_RETRIES; round++) {
        const id = this.#pick(appid, new Set(await this.#redis.smembers(this.#nps(appid))), now);
        try {
          await this.#claim(appid, id, side, now, true);
          return id;
        } catch (err) {
          if (!(err instanceof Taken)) throw err;
        }
      }
      throw new StoreLimitError('store-busy', 'the relay store is too busy, try again');
    });
  }

  /** As server.py: the shortest free id, 1–9, then 10–99, then 100–999; then random up to a million. */
  #pick(appid: string, used: Set<string>, now: number): string {
    for (let size = 1; size <= 3; size++) {
      const free: string[] = [];
      for (let i = 10 ** (size - 1); i < 10 ** size; i++) if (!used.has(String(i))) free.push(String(i));
      // Those this relay freed recently go last (nameplateReuse.ts); other relays' releases it cannot see.
      const choice = this.#recentlyFreed.prefer(appid, free, now);
      if (choice.length > 0) return choice[randomBelow(choice.length, this.#randomBytes)]!;
    }
    for (let tries = 0; tries < 1000; tries++) {
      const id = String(1000 + randomBelow(999_000, this.#randomBytes));
      if (!used.has(id)) return id;
    }
    throw new StoreLimitError('too-many-nameplates', 'unable to find a free nameplate-id');
  }

  claimNameplate(appid: string, name: string, side: string, now: number): Promise<string> {
    return this.#serial(() => this.#claim(appid, name, side, now));
  }

  /** Claim `name` for `side`; with `fresh`, only if nobody holds it yet (allocation). */
  async #claim(appid: string, name: string, side: string, now: number, fresh = false): Promise<string> {
    const { mailbox, crowded } = await this.#transact([this.#np(appid, name)], async ([raw], multi) => {
      if (raw && fresh) throw new Taken();
      let record = raw ? (JSON.parse(raw) as NameplateRecord) : undefined;
      let before = record?.bytes ?? 0;
      if (!record) {
        if ((await this.#redis.scard(this.#nps(appid))) >= this.#limits.maxNameplatesPerApp) {
          throw new StoreLimitError('too-many-nameplates', 'too many nameplates in use, try later');
        }
        const mailbox = mailboxId(this.#randomBytes);
        // The mailbox comes next, in its own transaction: make sure both fit.
        await this.#budget(appid, nameplateBytes(appid, name, mailbox, [side]) + mailboxBytes(appid, mailbox, [[side, {}]]));
        record = { mailbox, sides: {}, bytes: 0 };
        before = 0;
      }
      const mine = record.sides[side];
      if (!mine) record.sides[side] = { claimed: true, added: now };
      else if (!mine.claimed) throw new StoreReclaimedError();
      record.bytes = nameplateBytes(appid, name, record.mailbox, Object.keys(record.sides));
      await this.#budget(appid, record.bytes - before);
      multi
        .set(this.#np(appid, name), JSON.stringify(record))
        .sadd(this.#nps(appid), name)
        .sadd(this.#apps, appid)
        .incrby(this.#bytes, record.bytes - before);
      return { mailbox: record.mailbox, crowded: Object.keys(record.sides).length > 2 };
    });
    await this.#open(appid, mailbox, side, now, true);
    if (crowded) throw new StoreCrowdedError();
    return mailbox;
  }

  releaseNameplate(appid: string, name: string, side: string, now: number): Promise<void> {
    return this.#serial(() =>
      this.#transact([this.#np(appid, name)], ([raw], multi) => {
        if (!raw) return;
        const record = JSON.parse(raw) as NameplateRecord;
        const mine = record.sides[side];
        if (!mine) return;
        mine.claimed = false;
        if (Object.values(record.sides).some((s) => s.claimed)) multi.set(this.#np(appid, name), JSON.stringify(record));
        else {
          multi.del(this.#np(appid, name)).srem(this.#nps(appid), name).decrby(this.#bytes, record.bytes);
          this.#recentlyFreed.freed(appid, name, now);
        }
      }),
    );
  }

  openMailbox(appid: string, id: string, side: string, now: number): Promise<StoredMessage[]> {
    return this.#serial(() => this.#open(appid, id, side, now, false));
  }

  async #open(appid: string, id: string, side: string, now: number, forNameplate: boolean): Promise<StoredMessage[]> {
    const crowded = await this.#transact([this.#mb(appid, id)], async ([raw], multi) => {
      let record = raw ? (JSON.parse(raw) as MailboxRecord) : undefined;
      const before = record?.bytes ?? 0;
      if (!record) {
        if ((await this.#redis.scard(this.#mbs(appid))) >= this.#limits.maxMailboxesPerApp) {
          throw new StoreLimitError('too-many-mailboxes', 'too many mailboxes in use, try later');
        }
        record = { forNameplate, updated: now, sides: {}, count: 0, bytes: mailboxBytes(appid, id, []) };
      }
      if (!record.sides[side]) {
        const delta = mailboxBytes(appid, id, [[side, {}]]) - mailboxBytes(appid, id, []);
        await this.#budget(appid, record.bytes + delta - before);
        if (record.bytes + delta > this.#limits.maxMailboxBytes)
          throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMailboxBytes} bytes)`);
        record.sides[side] = { opened: true };
        record.bytes += delta;
      }
      record.updated = now;
      multi
        .set(this.#mb(appid, id), JSON.stringify(record))
        .sadd(this.#mbs(appid), id)
        .sadd(this.#apps, appid)
        .incrby(this.#bytes, record.bytes - before);
      return Object.keys(record.sides).length > 2;
    });
    if (crowded) throw new StoreCrowdedError();
    return (await this.#redis.lrange(this.#msgs(appid, id), 0, -1)).map((m) => JSON.parse(m) as StoredMessage);
  }

  addMessage(appid: string, id: string, message: StoredMessage, now: number): Promise<void> {
    return this.#serial(async () => {
      const index = await this.#transact([this.#mb(appid, id)], async ([raw], multi) => {
        if (!raw) throw new StoreLimitError('mailbox-gone', 'mailbox is gone');
        const record = JSON.parse(raw) as MailboxRecord;
        if (record.count >= this.#limits.maxMessagesPerMailbox) {
          throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMessagesPerMailbox} messages)`);
        }
        const bytes = messageBytes(message);
        if (record.bytes + bytes > this.#limits.maxMailboxBytes)
          throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMailboxBytes} bytes)`);
        await this.#budget(appid, bytes);
        const index = record.count;
        record.count++;
        record.bytes += bytes;
        record.updated = now;
        multi.set(this.#mb(appid, id), JSON.stringify(record)).rpush(this.#msgs(appid, id), JSON.stringify(message)).incrby(this.#bytes, bytes);
        return index;
      });
      await this.#redis.publish(this.#added(appid, id), JSON.stringify({ relay: this.#relayId, index, message }));
    });
  }

  closeMailbox(appid: string, id: string, side: string, mood: string | undefined): Promise<boolean> {
    return this.#serial(() =>
      this.#transact([this.#mb(appid, id)], ([raw], multi) => {
        if (!raw) return false;
        const record = JSON.parse(raw) as MailboxRecord;
        const mine = record.sides[side];
        if (!mine) return false;
        const delta = (mood?.length ?? 0) - (mine.mood?.length ?? 0);
        mine.opened = false;
        mine.mood = mood;
        record.bytes += delta;
        if (Object.values(record.sides).some((s) => s.opened)) {
          multi.set(this.#mb(appid, id), JSON.stringify(record)).incrby(this.#bytes, delta);
          return false;
        }
        multi
          .del(this.#mb(appid, id), this.#msgs(appid, id))
          .srem(this.#mbs(appid), id)
          .decrby(this.#bytes, record.bytes - delta);
        return true;
      }),
    );
  }

  touchMailboxes(appid: string, ids: string[], now: number): Promise<void> {
    return this.#serial(async () => {
      for (const id of ids) {
        await this.#transact([this.#mb(appid, id)], ([raw], multi) => {
          if (!raw) return;
          const record = JSON.parse(raw) as MailboxRecord;
          record.updated = now;
          multi.set(this.#mb(appid, id), JSON.stringify(record));
        });
      }
    });
  }

  prune(before: number): Promise<{ appid: string; mailbox: string }[]> {
    return this.#serial(async () => {
      const removed: { appid: string; mailbox: string }[] = [];
      for (const appid of await this.#redis.smembers(this.#apps)) {
        const gone = new Set<string>();
        for (const id of await this.#redis.smembers(this.#mbs(appid))) {
          const stale = await this.#transact([this.#mb(appid, id)], ([raw], multi) => {
            const record = raw ? (JSON.parse(raw) as MailboxRecord) : undefined;
            if (record && record.updated > before) return false;
            multi
              .del(this.#mb(appid, id), this.#msgs(appid, id))
              .srem(this.#mbs(appid), id)
              .decrby(this.#bytes, record?.bytes ?? 0);
            return true;
          });
          if (stale) {
            gone.add(id);
            removed.push({ appid, mailbox: id });
          }
        }
        for (const name of await this.#redis.smembers(this.#nps(appid))) {
          await this.#transact([this.#np(appid, name)], ([raw], multi) => {
            const record = raw ? (JSON.parse(raw) as NameplateRecord) : undefined;
            if (record && !gone.has(record.mailbox)) return;
            multi
              .del(this.#np(appid, name))
              .srem(this.#nps(appid), name)
              .decrby(this.#bytes, record?.bytes ?? 0);
          });
        }
        await this.#forgetIfEmpty(appid);
      }
      return removed;
    });
  }

  /** Drop an appid with no nameplates and no mailboxes from the index (and from the appid quota). */
  async #forgetIfEmpty(appid: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      // Watching both sets: a claim through another relay meanwhile makes EXEC fail, and we look again.
      await this.#redis.watch(this.#nps(appid), this.#mbs(appid));
      const [nps, mbs] = await Promise.all([this.#redis.scard(this.#nps(appid)), this.#redis.scard(this.#mbs(appid))]);
      if (nps > 0 || mbs > 0) {
        await this.#redis.unwatch();
        return;
      }
      if ((await this.#redis.multi().srem(this.#apps, appid).exec()) !== null) return;
    }
  }

  async stats(): Promise<StoreStats> {
    const appids = await this.#redis.smembers(this.#apps);
    let nameplates = 0;
    let mailboxes = 0;
    for (const appid of appids) {
      nameplates += await this.#redis.scard(this.#nps(appid));
      mailboxes += await this.#redis.scard(this.#mbs(appid));
    }
    return { appids: appids.length, nameplates, mailboxes, bytes: Number((await this.#redis.get(this.#bytes)) ?? 0) };
  }

  /**
   * Hear `add`s made through other relays to this mailbox (ours reach our clients directly). Resolves,
   * once subscribed, with the function that stops listening.
   */
  async watch(appid: string, id: string, onMessage: (m: StoredMessage, index: number) => void): Promise<() => Promise<void>> {
    const channel = this.#added(appid, id);
    let set = this.#watchers.get(channel);
    if (!set) {
      this.#watchers.set(channel, (set = new Set()));
      await this.#sub.subscribe(channel);
    }
    set.add(onMessage);
    return async () => {
      const current = this.#watchers.get(channel);
      if (!current?.delete(onMessage) || current.size > 0) return;
      this.#watchers.delete(channel);
      await this.#sub.unsubscribe(channel);
    };
  }

  #onAdded(channel: string, text: string): void {
    const watchers = this.#watchers.get(channel);
    if (!watchers) return;
    let added: { relay: string; index: number; message: StoredMessage };
    try {
      added = JSON.parse(text) as typeof added;
    } catch {
      return;
    }
    if (added.relay === this.#relayId) return;
    for (const w of watchers) w(added.message, added.index);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }
}
