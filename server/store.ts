/**
 * Where the relay keeps nameplates and mailboxes. The protocol handler talks to this small async
 * interface only, so a durable or a Redis-backed store can replace {@link MemoryMailboxStore} without
 * touching the protocol. Rules (crowded, reclaimed, deletion when both sides close) follow
 * wormhole-mailbox-server 0.4.1's `server.py`.
 * @module
 */
import { RecentlyFreed } from './nameplateReuse.js';

/** A message as stored in a mailbox, exactly what `message` frames replay. */
export interface StoredMessage {
  side: string;
  phase: string;
  /** Hex, as the client sent it: opaque ciphertext to the server. */
  body: string;
  server_rx: number;
  msg_id: string | null;
}

export class StoreCrowdedError extends Error {
  constructor() {
    super('crowded');
  }
}
export class StoreReclaimedError extends Error {
  constructor() {
    super('reclaimed');
  }
}

/** Why a store refused: the `reason` label of the relay's refusal metrics. */
export type StoreRefusalReason =
  'mailbox-full' | 'store-full' | 'too-many-appids' | 'too-many-nameplates' | 'too-many-mailboxes' | 'mailbox-gone' | 'store-busy';

/** A store quota was hit; `message` is sent to the client as the `error` text. */
export class StoreLimitError extends Error {
  readonly reason: StoreRefusalReason;
  constructor(reason: StoreRefusalReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The bounds a mailbox store enforces: messages and bytes per mailbox, bytes and appids in all, tables per appid. */
export interface StoreLimits {
  /** Messages one mailbox may hold. */
  maxMessagesPerMailbox: number;
  /** Bytes one mailbox may hold, counted by `mailboxBytes` (its id, sides and every message). */
  maxMailboxBytes: number;
  /** Bytes the whole store may hold, over every appid: the bound on its memory. */
  maxStoreBytes: number;
  /** Distinct appids at once (an appid goes when expiry finds it empty). */
  maxAppids: number;
  /** Nameplates one appid may have at once. */
  maxNameplatesPerApp: number;
  /** Mailboxes one appid may have at once. */
  maxMailboxesPerApp: number;
}

/** What the relay's /metrics reports of a store. */
export interface StoreStats {
  appids: number;
  nameplates: number;
  mailboxes: number;
  /** As counted against `maxStoreBytes`. */
  bytes: number;
}

/*
 * Byte accounting, shared by both stores so they refuse at the same point. Every string a client chose
 * counts at its length, plus a fixed overhead per record for the structure around it.
 */
export const RECORD_OVERHEAD = 64;
export const SIDE_OVERHEAD = 16;

export function messageBytes(m: StoredMessage): number {
  return RECORD_OVERHEAD + m.side.length + m.phase.length + m.body.length + (m.msg_id?.length ?? 0);
}

export function nameplateBytes(appid: string, name: string, mailbox: string, sides: Iterable<string>): number {
  let n = RECORD_OVERHEAD + appid.length + name.length + mailbox.length;
  for (const side of sides) n += SIDE_OVERHEAD + side.length;
  return n;
}

/** A mailbox without its messages. */
export function mailboxBytes(appid: string, id: string, sides: Iterable<[string, { mood?: string }]>): number {
  let n = RECORD_OVERHEAD + appid.length + id.length;
  for (const [side, s] of sides) n += SIDE_OVERHEAD + side.length + (s.mood?.length ?? 0);
  return n;
}

export const STORE_FULL = 'the relay is full, try later';

/** Where the mailbox server keeps nameplates, mailboxes and their messages: in memory, or in Redis for several relays. */
export interface MailboxStore {
  /** The nameplates in use under `appid`, sorted (for the `list` request). */
  listNameplates(appid: string): Promise<string[]>;
  /** Pick a free nameplate (shortest length first) and claim it for `side`. `now` is in milliseconds, as everywhere here. */
  allocateNameplate(appid: string, side: string, now: number): Promise<string>;
  /** Claim `nameplate` for `side`, creating it if new; returns its mailbox id. */
  claimNameplate(appid: string, nameplate: string, side: string, now: number): Promise<string>;
  /** Drop `side`'s claim on the nameplate; it is freed once no side holds it. */
  releaseNameplate(appid: string, nameplate: string, side: string, now: number): Promise<void>;
  /** Open `mailbox` for `side` and return the messages stored so far, oldest first. */
  openMailbox(appid: string, mailbox: string, side: string, now: number): Promise<StoredMessage[]>;
  /** Append a message to the mailbox; StoreLimitError when it or the store is full. */
  addMessage(appid: string, mailbox: string, message: StoredMessage, now: number): Promise<void>;
  /** Close `side`'s hold on the mailbox; returns true when that was the last side and it is gone. */
  closeMailbox(appid: string, mailbox: string, side: string, mood: string | undefined, now: number): Promise<boolean>;
  /** Mark mailboxes as in use (they have listeners), so expiry leaves them alone. */
  touchMailboxes(appid: string, mailboxes: string[], now: number): Promise<void>;
  /** Delete mailboxes (and their nameplates) not updated since `before` (ms). Returns the mailbox ids removed. */
  prune(before: number): Promise<{ appid: string; mailbox: string }[]>;
  /** Counts and bytes held now, for /metrics. */
  stats(): Promise<StoreStats>;
  /**
   * Stores shared by several relays (RedisMailboxStore): hear `add`s made through the other relays to
   * `mailbox`, each with its position in the mailbox. Resolves once listening, with the way to stop.
   */
  watch?(appid: string, mailbox: string, onMessage: (message: StoredMessage, index: number) => void): Promise<() => Promise<void>>;
  /** Stop its listeners when the relay stops (the connections it was given are not closed). */
  close?(): Promise<void>;
}

/** One side's hold on a nameplate: whether it still claims it, and when it was added (ms). */
export interface Side {
  claimed: boolean;
  added: number;
}
interface Nameplate {
  mailbox: string;
  sides: Map<string, Side>;
  bytes: number;
}
/** One side's hold on a mailbox: whether it has it open, and the mood it closed with. */
export interface MailboxSide {
  opened: boolean;
  mood?: string;
}
interface Mailbox {
  forNameplate: boolean;
  /** Milliseconds. */
  updated: number;
  sides: Map<string, MailboxSide>;
  messages: StoredMessage[];
  /** Its own record plus its messages. */
  bytes: number;
}
interface App {
  nameplates: Map<string, Nameplate>;
  mailboxes: Map<string, Mailbox>;
}

/** A record that changed (was created, changed or deleted): what a persistent copy must rewrite. */
export type StoreChange =
  | { kind: 'nameplate'; appid: string; name: string }
  | { kind: 'mailbox'; appid: string; id: string }
  | { kind: 'message'; appid: string; id: string; index: number };

/** The records a persistent copy keeps (see pairingPersistence.ts), as JSON-ready data. */
export interface NameplateRecord {
  appid: string;
  name: string;
  mailbox: string;
  sides: [string, Side][];
}
/** A mailbox as a persistent copy keeps it: its sides and how many messages it holds (the messages are saved apart). */
export interface MailboxRecord {
  appid: string;
  id: string;
  forNameplate: boolean;
  updated: number;
  sides: [string, MailboxSide][];
  /** Messages it holds: a persistent copy ignores saved messages at or past this index. */
  count: number;
}

/** What a `MemoryMailboxStore` needs: its limits, randomness, and a hook to persist changes. */
export interface MemoryStoreOptions {
  limits: StoreLimits;
  /** Random bytes for mailbox ids and nameplate choice. */
  randomBytes: (n: number) => Uint8Array;
  /** Called after every change of a record (to persist it). */
  onChange?: (change: StoreChange) => void;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** wormhole-mailbox-server's `generate_mailbox_id`: base32 of 8 random bytes, lower case, no padding. */
export function mailboxId(randomBytes: (n: number) => Uint8Array): string {
  const bytes = randomBytes(8);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function randomBelow(n: number, randomBytes: (n: number) => Uint8Array): number {
  // Rejection sampling over 32 bits: no modulo bias.
  const limit = Math.floor(0x1_0000_0000 / n) * n;
  for (;;) {
    const b = randomBytes(4);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % n;
  }
}

/** The in-memory store: the default for tests and for a relay that need not survive restarts. */
export class MemoryMailboxStore implements MailboxStore {
  readonly #apps = new Map<string, App>();
  readonly #limits: StoreLimits;
  readonly #randomBytes: (n: number) => Uint8Array;
  readonly #onChange: (change: StoreChange) => void;
  readonly #recentlyFreed = new RecentlyFreed();
  #bytes = 0;

  constructor(options: MemoryStoreOptions) {
    this.#limits = options.limits;
    this.#randomBytes = options.randomBytes;
    this.#onChange = options.onChange ?? (() => {});
  }

  /**
   * An existing app, or a new one if the appid quota allows; a new one joins the table only when a
   * record is added to it (#addMailbox), so refused requests leave no empty appids behind.
   */
  #app(appid: string): App {
    const app = this.#apps.get(appid);
    if (app) return app;
    if (this.#apps.size >= this.#limits.maxAppids) throw new StoreLimitError('too-many-appids', 'too many appids in use, try later');
    return { nameplates: new Map(), mailboxes: new Map() };
  }

  /** Refuse growth by `delta` bytes past the store's budget. */
  #budget(delta: number): void {
    if (delta > 0 && this.#bytes + delta > this.#limits.maxStoreBytes) throw new StoreLimitError('store-full', STORE_FULL);
  }

  async listNameplates(appid: string): Promise<string[]> {
    return [...(this.#apps.get(appid)?.nameplates.keys() ?? [])].sort();
  }

  async allocateNameplate(appid: string, side: string, now: number): Promise<string> {
    const used = this.#apps.get(appid)?.nameplates ?? new Map<string, Nameplate>();
    // As server.py: the shortest free id, 1–9, then 10–99, then 100–999; then random up to a million.
    for (let size = 1; size <= 3; size++) {
      const low = 10 ** (size - 1);
      const free: string[] = [];
      for (let i = low; i < 10 ** size; i++) if (!used.has(String(i))) free.push(String(i));
      if (free.length > 0) {
        const choice = this.#recentlyFreed.prefer(appid, free, now);
        const id = choice[randomBelow(choice.length, this.#randomBytes)]!;
        await this.claimNameplate(appid, id, side, now);
        return id;
      }
    }
    for (let tries = 0; tries < 1000; tries++) {
      const id = String(1000 + randomBelow(999_000, this.#randomBytes));
      if (!used.has(id)) {
        await this.claimNameplate(appid, id, side, now);
        return id;
      }
    }
    throw new StoreLimitError('too-many-nameplates', 'unable to find a free nameplate-id');
  }

  async claimNameplate(appid: string, name: string, side: string, now: number): Promise<string> {
    const app = this.#app(appid);
    let nameplate = app.nameplates.get(name);
    if (!nameplate) {
      if (app.nameplates.size >= this.#limits.maxNameplatesPerApp) throw new StoreLimitError('too-many-nameplates', 'too many nameplates in use, try later');
      const mailbox = mailboxId(this.#randomBytes);
      const bytes = nameplateBytes(appid, name, mailbox, []);
      this.#budget(bytes + mailboxBytes(appid, mailbox, []));
      this.#addMailbox(app, appid, mailbox, true, now);
      nameplate = { mailbox, sides: new Map(), bytes };
      this.#bytes += bytes;
      app.nameplates.set(name, nameplate);
      this.#onChange({ kind: 'nameplate', appid, name });
    }
    const mine = nameplate.sides.get(side);
    if (!mine) {
      const bytes = nameplateBytes(appid, name, nameplate.mailbox, [...nameplate.sides.keys(), side]);
      this.#budget(bytes - nameplate.bytes);
      nameplate.sides.set(side, { claimed: true, added: now });
      this.#bytes += bytes - nameplate.bytes;
      nameplate.bytes = bytes;
      this.#onChange({ kind: 'nameplate', appid, name });
    } else if (!mine.claimed) throw new StoreReclaimedError();
    await this.openMailbox(appid, nameplate.mailbox, side, now);
    if (nameplate.sides.size > 2) throw new StoreCrowdedError();
    return nameplate.mailbox;
  }

  async releaseNameplate(appid: string, name: string, side: string, now: number): Promise<void> {
    const app = this.#apps.get(appid);
    const nameplate = app?.nameplates.get(name);
    const mine = nameplate?.sides.get(side);
    if (!app || !nameplate || !mine) return;
    mine.claimed = false;
    this.#onChange({ kind: 'nameplate', appid, name });
    if ([...nameplate.sides.values()].some((s) => s.claimed)) return;
    app.nameplates.delete(name);
    this.#bytes -= nameplate.bytes;
    this.#recentlyFreed.freed(appid, name, now);
  }

  #addMailbox(app: App, appid: string, id: string, forNameplate: boolean, now: number): Mailbox {
    let mailbox = app.mailboxes.get(id);
    if (!mailbox) {
      if (app.mailboxes.size >= this.#limits.maxMailboxesPerApp) throw new StoreLimitError('too-many-mailboxes', 'too many mailboxes in use, try later');
      const bytes = mailboxBytes(appid, id, []);
      this.#budget(bytes);
      mailbox = { forNameplate, updated: now, sides: new Map(), messages: [], bytes };
      this.#bytes += bytes;
      app.mailboxes.set(id, mailbox);
      if (!this.#apps.has(appid)) this.#apps.set(appid, app);
      this.#onChange({ kind: 'mailbox', appid, id });
    }
    return mailbox;
  }

  async openMailbox(appid: string, id: string, side: string, now: number): Promise<StoredMessage[]> {
    const mailbox = this.#addMailbox(this.#app(appid), appid, id, false, now);
    if (!mailbox.sides.has(side)) {
      const delta = SIDE_OVERHEAD + side.length;
      this.#budget(delta);
      if (mailbox.bytes + delta > this.#limits.maxMailboxBytes)
        throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMailboxBytes} bytes)`);
      mailbox.sides.set(side, { opened: true });
      mailbox.bytes += delta;
      this.#bytes += delta;
    }
    mailbox.updated = now;
    this.#onChange({ kind: 'mailbox', appid, id });
    if (mailbox.sides.size > 2) throw new StoreCrowdedError();
    return [...mailbox.messages];
  }

  async addMessage(appid: string, id: string, message: StoredMessage, now: number): Promise<void> {
    const mailbox = this.#apps.get(appid)?.mailboxes.get(id);
    if (!mailbox) throw new StoreLimitError('mailbox-gone', 'mailbox is gone');
    if (mailbox.messages.length >= this.#limits.maxMessagesPerMailbox) {
      throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMessagesPerMailbox} messages)`);
    }
    const bytes = messageBytes(message);
    if (mailbox.bytes + bytes > this.#limits.maxMailboxBytes)
      throw new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMailboxBytes} bytes)`);
    this.#budget(bytes);
    mailbox.messages.push(message);
    mailbox.bytes += bytes;
    this.#bytes += bytes;
    mailbox.updated = now;
    this.#onChange({ kind: 'message', appid, id, index: mailbox.messages.length - 1 });
    this.#onChange({ kind: 'mailbox', appid, id });
  }

  async closeMailbox(appid: string, id: string, side: string, mood: string | undefined): Promise<boolean> {
    const app = this.#apps.get(appid);
    const mailbox = app?.mailboxes.get(id);
    const mine = mailbox?.sides.get(side);
    if (!app || !mailbox || !mine) return false;
    // The mood is kept (as server.py does) but not grown: the server caps it at 32 characters.
    const delta = (mood?.length ?? 0) - (mine.mood?.length ?? 0);
    mine.opened = false;
    mine.mood = mood;
    mailbox.bytes += delta;
    this.#bytes += delta;
    this.#onChange({ kind: 'mailbox', appid, id });
    if ([...mailbox.sides.values()].some((s) => s.opened)) return false;
    app.mailboxes.delete(id);
    this.#bytes -= mailbox.bytes;
    return true;
  }

  async touchMailboxes(appid: string, ids: string[], now: number): Promise<void> {
    const app = this.#apps.get(appid);
    for (const id of ids) {
      const mailbox = app?.mailboxes.get(id);
      if (!mailbox) continue;
      mailbox.updated = now;
      this.#onChange({ kind: 'mailbox', appid, id });
    }
  }

  async prune(before: number): Promise<{ appid: string; mailbox: string }[]> {
    const removed: { appid: string; mailbox: string }[] = [];
    for (const [appid, app] of this.#apps) {
      const gone = new Set<string>();
      for (const [id, mailbox] of app.mailboxes) {
        if (mailbox.updated > before) continue;
        app.mailboxes.delete(id);
        this.#bytes -= mailbox.bytes;
        gone.add(id);
        removed.push({ appid, mailbox: id });
        this.#onChange({ kind: 'mailbox', appid, id });
      }
      for (const [name, nameplate] of app.nameplates) {
        if (!gone.has(nameplate.mailbox)) continue;
        app.nameplates.delete(name);
        this.#bytes -= nameplate.bytes;
        this.#onChange({ kind: 'nameplate', appid, name });
      }
      if (app.mailboxes.size === 0 && app.nameplates.size === 0) this.#apps.delete(appid);
    }
    return removed;
  }

  async stats(): Promise<StoreStats> {
    let nameplates = 0;
    let mailboxes = 0;
    for (const app of this.#apps.values()) {
      nameplates += app.nameplates.size;
      mailboxes += app.mailboxes.size;
    }
    return { appids: this.#apps.size, nameplates, mailboxes, bytes: this.#bytes };
  }

  /** A nameplate as a persistent copy keeps it; undefined when it is gone. */
  nameplateRecord(appid: string, name: string): NameplateRecord | undefined {
    const n = this.#apps.get(appid)?.nameplates.get(name);
    return n && { appid, name, mailbox: n.mailbox, sides: [...n.sides] };
  }

  /** A mailbox (without its messages) as a persistent copy keeps it; undefined when it is gone. */
  mailboxRecord(appid: string, id: string): MailboxRecord | undefined {
    const m = this.#apps.get(appid)?.mailboxes.get(id);
    return m && { appid, id, forNameplate: m.forNameplate, updated: m.updated, sides: [...m.sides], count: m.messages.length };
  }

  /** The message at `index` in a mailbox, if it holds one (for a persistent copy). */
  message(appid: string, id: string, index: number): StoredMessage | undefined {
    return this.#apps.get(appid)?.mailboxes.get(id)?.messages[index];
  }

  /** Load saved records (at startup, before any client), recounting their bytes. Budgets are not applied: it all fitted before. */
  restore(nameplates: NameplateRecord[], mailboxes: (MailboxRecord & { messages: StoredMessage[] })[]): void {
    this.#apps.clear();
    this.#bytes = 0;
    const app = (appid: string) => {
      let a = this.#apps.get(appid);
      if (!a) this.#apps.set(appid, (a = { nameplates: new Map(), mailboxes: new Map() }));
      return a;
    };
    for (const m of mailboxes) {
      const sides = new Map(m.sides);
      const messages = m.messages.slice(0, m.count);
      const bytes = mailboxBytes(m.appid, m.id, sides) + messages.reduce((n, msg) => n + messageBytes(msg), 0);
      app(m.appid).mailboxes.set(m.id, { forNameplate: m.forNameplate, updated: m.updated, sides, messages, bytes });
      this.#bytes += bytes;
    }
    for (const n of nameplates) {
      const sides = new Map(n.sides);
      const bytes = nameplateBytes(n.appid, n.name, n.mailbox, sides.keys());
      app(n.appid).nameplates.set(n.name, { mailbox: n.mailbox, sides, bytes });
      this.#bytes += bytes;
    }
  }
}
