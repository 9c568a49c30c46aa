/**
 * Where the relay keeps nameplates and mailboxes. The protocol handler talks to this small async
 * interface only, so a durable or a Redis-backed store can replace {@link MemoryMailboxStore} without
 * touching the protocol. Rules (crowded, reclaimed, deletion when both sides close) follow
 * wormhole-mailbox-server 0.4.1's `server.py`.
 * @module
 */

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
/** A store quota was hit; `message` is sent to the client as the `error` text. */
export class StoreLimitError extends Error {}

export interface StoreLimits {
  /** Messages one mailbox may hold. */
  maxMessagesPerMailbox: number;
  /** Total body characters one mailbox may hold. */
  maxMailboxBodyChars: number;
  /** Nameplates one appid may have at once. */
  maxNameplatesPerApp: number;
  /** Mailboxes one appid may have at once. */
  maxMailboxesPerApp: number;
}

export interface MailboxStore {
  listNameplates(appid: string): Promise<string[]>;
  /** Pick a free nameplate (shortest length first) and claim it for `side`. */
  allocateNameplate(appid: string, side: string, now: number): Promise<string>;
  /** Claim `nameplate` for `side`, creating it if new; returns its mailbox id. */
  claimNameplate(appid: string, nameplate: string, side: string, now: number): Promise<string>;
  releaseNameplate(appid: string, nameplate: string, side: string, now: number): Promise<void>;
  /** Open `mailbox` for `side` and return the messages stored so far, oldest first. */
  openMailbox(appid: string, mailbox: string, side: string, now: number): Promise<StoredMessage[]>;
  addMessage(appid: string, mailbox: string, message: StoredMessage): Promise<void>;
  /** Close `side`'s hold on the mailbox; returns true when that was the last side and it is gone. */
  closeMailbox(appid: string, mailbox: string, side: string, mood: string | undefined, now: number): Promise<boolean>;
  /** Mark mailboxes as in use (they have listeners), so expiry leaves them alone. */
  touchMailboxes(appid: string, mailboxes: string[], now: number): Promise<void>;
  /** Delete mailboxes (and their nameplates) not updated since `before`. Returns the mailbox ids removed. */
  prune(before: number): Promise<{ appid: string; mailbox: string }[]>;
  /**
   * Stores shared by several relays (RedisMailboxStore): hear `add`s made through the other relays to
   * `mailbox`, each with its position in the mailbox. Resolves once listening, with the way to stop.
   */
  watch?(appid: string, mailbox: string, onMessage: (message: StoredMessage, index: number) => void): Promise<() => Promise<void>>;
  close?(): Promise<void>;
}

interface Side {
  claimed: boolean;
  added: number;
}
interface Nameplate {
  mailbox: string;
  sides: Map<string, Side>;
}
interface MailboxSide {
  opened: boolean;
  mood?: string;
}
interface Mailbox {
  forNameplate: boolean;
  updated: number;
  sides: Map<string, MailboxSide>;
  messages: StoredMessage[];
  bodyChars: number;
}
interface App {
  nameplates: Map<string, Nameplate>;
  mailboxes: Map<string, Mailbox>;
}

export interface MemoryStoreOptions {
  limits: StoreLimits;
  /** Random bytes for mailbox ids and nameplate choice. */
  randomBytes: (n: number) => Uint8Array;
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

  constructor(options: MemoryStoreOptions) {
    this.#limits = options.limits;
    this.#randomBytes = options.randomBytes;
  }

  #app(appid: string): App {
    let app = this.#apps.get(appid);
    if (!app) {
      app = { nameplates: new Map(), mailboxes: new Map() };
      this.#apps.set(appid, app);
    }
    return app;
  }

  async listNameplates(appid: string): Promise<string[]> {
    return [...this.#app(appid).nameplates.keys()].sort();
  }

  async allocateNameplate(appid: string, side: string, now: number): Promise<string> {
    const app = this.#app(appid);
    // As server.py: the shortest free id, 1–9, then 10–99, then 100–999; then random up to a million.
    for (let size = 1; size <= 3; size++) {
      const low = 10 ** (size - 1);
      const free: string[] = [];
      for (let i = low; i < 10 ** size; i++) if (!app.nameplates.has(String(i))) free.push(String(i));
      if (free.length > 0) {
        const id = free[randomBelow(free.length, this.#randomBytes)]!;
        await this.claimNameplate(appid, id, side, now);
        return id;
      }
    }
    for (let tries = 0; tries < 1000; tries++) {
      const id = String(1000 + randomBelow(999_000, this.#randomBytes));
      if (!app.nameplates.has(id)) {
        await this.claimNameplate(appid, id, side, now);
        return id;
      }
    }
    throw new StoreLimitError('unable to find a free nameplate-id');
  }

  async claimNameplate(appid: string, name: string, side: string, now: number): Promise<string> {
    const app = this.#app(appid);
    let nameplate = app.nameplates.get(name);
    if (!nameplate) {
      if (app.nameplates.size >= this.#limits.maxNameplatesPerApp) throw new StoreLimitError('too many nameplates in use, try later');
      const mailbox = mailboxId(this.#randomBytes);
      this.#addMailbox(app, mailbox, true, now);
      nameplate = { mailbox, sides: new Map() };
      app.nameplates.set(name, nameplate);
    }
    const mine = nameplate.sides.get(side);
    if (!mine) nameplate.sides.set(side, { claimed: true, added: now });
    else if (!mine.claimed) throw new StoreReclaimedError();
    await this.openMailbox(appid, nameplate.mailbox, side, now);
    if (nameplate.sides.size > 2) throw new StoreCrowdedError();
    return nameplate.mailbox;
  }

  async releaseNameplate(appid: string, name: string, side: string): Promise<void> {
    const app = this.#app(appid);
    const nameplate = app.nameplates.get(name);
    const mine = nameplate?.sides.get(side);
    if (!nameplate || !mine) return;
    mine.claimed = false;
    if ([...nameplate.sides.values()].some((s) => s.claimed)) return;
    app.nameplates.delete(name);
  }

  #addMailbox(app: App, id: string, forNameplate: boolean, now: number): Mailbox {
    let mailbox = app.mailboxes.get(id);
    if (!mailbox) {
      if (app.mailboxes.size >= this.#limits.maxMailboxesPerApp) throw new StoreLimitError('too many mailboxes in use, try later');
      mailbox = { forNameplate, updated: now, sides: new Map(), messages: [], bodyChars: 0 };
      app.mailboxes.set(id, mailbox);
    }
    return mailbox;
  }

  async openMailbox(appid: string, id: string, side: string, now: number): Promise<StoredMessage[]> {
    const mailbox = this.#addMailbox(this.#app(appid), id, false, now);
    if (!mailbox.sides.has(side)) mailbox.sides.set(side, { opened: true });
    mailbox.updated = now;
    if (mailbox.sides.size > 2) throw new StoreCrowdedError();
    return [...mailbox.messages];
  }

  async addMessage(appid: string, id: string, message: StoredMessage): Promise<void> {
    const mailbox = this.#app(appid).mailboxes.get(id);
    if (!mailbox) throw new StoreLimitError('mailbox is gone');
    if (mailbox.messages.length >= this.#limits.maxMessagesPerMailbox) {
      throw new StoreLimitError(`mailbox is full (${this.#limits.maxMessagesPerMailbox} messages)`);
    }
    if (mailbox.bodyChars + message.body.length > this.#limits.maxMailboxBodyChars) {
      throw new StoreLimitError(`mailbox is full (${this.#limits.maxMailboxBodyChars} body characters)`);
    }
    mailbox.messages.push(message);
    mailbox.bodyChars += message.body.length;
    mailbox.updated = message.server_rx;
  }

  async closeMailbox(appid: string, id: string, side: string, mood: string | undefined): Promise<boolean> {
    const app = this.#app(appid);
    const mailbox = app.mailboxes.get(id);
    const mine = mailbox?.sides.get(side);
    if (!mailbox || !mine) return false;
    mine.opened = false;
    mine.mood = mood;
    if ([...mailbox.sides.values()].some((s) => s.opened)) return false;
    app.mailboxes.delete(id);
    return true;
  }

  async touchMailboxes(appid: string, ids: string[], now: number): Promise<void> {
    const app = this.#app(appid);
    for (const id of ids) {
      const mailbox = app.mailboxes.get(id);
      if (mailbox) mailbox.updated = now;
    }
  }

  async prune(before: number): Promise<{ appid: string; mailbox: string }[]> {
    const removed: { appid: string; mailbox: string }[] = [];
    for (const [appid, app] of this.#apps) {
      for (const [id, mailbox] of app.mailboxes) {
        if (mailbox.updated > before) continue;
        app.mailboxes.delete(id);
        removed.push({ appid, mailbox: id });
      }
      const gone = new Set(removed.filter((r) => r.appid === appid).map((r) => r.mailbox));
      for (const [name, nameplate] of app.nameplates) if (gone.has(nameplate.mailbox)) app.nameplates.delete(name);
      if (app.mailboxes.size === 0 && app.nameplates.size === 0) this.#apps.delete(appid);
    }
    return removed;
  }
}
