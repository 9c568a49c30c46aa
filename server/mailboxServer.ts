/**
 * The magic-wormhole mailbox protocol, server side, independent of the transport: a WebSocket listener
 * (relay.ts) or the in-memory network feeds it text frames through {@link MailboxServer.connect}.
 * Replies follow wormhole-mailbox-server 0.4.1 (server_websocket.py) frame for frame: an `ack` for every
 * typed command, `server_tx` on every frame, the same error strings.
 *
 * On top of the Python server it bounds what clients may do (see limits.ts): field lengths, message
 * bytes per connection and per address, claim and `list` rates. Every refusal is an `error` frame in
 * the magic-wormhole shape, `{"type":"error","error":text,"orig":frame}`; rate refusals' text starts
 * with `rate limited:` and quota refusals' with `quota exceeded:`, so clients can tell them apart.
 * @module
 */
import { ProtocolError } from '../src/errors.js';
import { parseJsonObject } from '../src/wormhole/messages.js';
import type { RelayLimits } from './limits.js';
import { silentLogger, type Logger } from './log.js';
import { RateLimiter } from './rateLimit.js';
import { messageBytes, StoreCrowdedError, StoreLimitError, StoreReclaimedError, type MailboxStore, type StoredMessage } from './store.js';

/** What the server needs of one client connection. */
export interface ServerConnection {
  /** Send one text frame to the client. */
  send(text: string): void;
  /** Close the client's connection, with a WebSocket close code and reason. */
  close(code?: number, reason?: string): void;
  /** The client's address, for per-address quotas and rates; connections without one share `local`. */
  address?: string;
}

/** What the transport calls on the server for one connection. */
export interface ConnectionHandle {
  /** A frame from the client (binary frames are refused). */
  receive(frame: string | Uint8Array): void;
  /** The transport closed; stop listening. */
  closed(): void;
}

/** What a `MailboxServer` needs: the store, its limits, the clock, and what it tells clients. */
export interface MailboxServerOptions {
  store: MailboxStore;
  limits: RelayLimits;
  /** Milliseconds since the epoch; injected so tests control time. */
  now: () => number;
  log?: Logger;
  /** The `welcome` object sent on connect, e.g. `{ motd }`; `{ error }` turns clients away. */
  welcome?: Record<string, unknown>;
  /**
   * Appids whose nameplates `list` does not reveal (Backchannel's own: its codes are typed, never
   * completed). Other appids, e.g. the `wormhole` CLI's, keep `list` for tab completion.
   */
  unlistedAppids?: readonly string[];
}

/** Labels of {@link MailboxServer.refusals}, for /metrics. */
export type RefusalReason =
  | 'protocol'
  | 'field-too-long'
  | 'claim-rate-address'
  | 'claim-rate-nameplate'
  | 'list-rate'
  | 'list-unlisted'
  | 'connection-quota'
  | 'address-quota'
  | 'queue-overflow'
  | 'crowded'
  | 'reclaimed'
  | StoreLimitError['reason'];

/** A client error: sent back as `{"type":"error","error":explain,"orig":frame}`. */
class Refusal extends Error {
  readonly reason: RefusalReason;
  constructor(message: string, reason: RefusalReason = 'protocol') {
    super(message);
    this.reason = reason;
  }
}

/** The start of every rate-limit refusal's text: stable, for clients to recognise. */
export const RATE_LIMITED = 'rate limited';
/** The start of every quota refusal's text. */
export const QUOTA_EXCEEDED = 'quota exceeded';

const ID_LIMIT = 64;
const MOOD_LIMIT = 32;

interface ConnState {
  conn: ServerConnection;
  address: string;
  /** Message bytes this connection added. */
  added: number;
  appid?: string;
  side?: string;
  didAllocate: boolean;
  didClaim: boolean;
  nameplate?: string;
  didRelease: boolean;
  mailbox?: string;
  listening: boolean;
  didClose: boolean;
  /** Messages the open already replayed: adds from other relays below this index are not news. */
  seen: number;
  queue: Promise<void>;
  queued: number;
  gone: boolean;
}

/** The magic-wormhole mailbox protocol over any transport: one `connect` per client connection; state lives in the store. */
export class MailboxServer {
  readonly #store: MailboxStore;
  readonly #limits: RelayLimits;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #welcome: Record<string, unknown>;
  /** appid\0mailbox → connections listening to it. */
  readonly #listeners = new Map<string, Set<ConnState>>();
  readonly #connections = new Set<ConnState>();
  /** appid\0mailbox → the store's watch on adds through other relays (shared stores only). */
  readonly #remote = new Map<string, Promise<() => Promise<void>>>();
  readonly #unlisted: ReadonlySet<string>;
  readonly #claimsByAddress: RateLimiter;
  readonly #claimsByNameplate: RateLimiter;
  readonly #listsByAddress: RateLimiter;
  /** address → message bytes its connections have in the store. */
  readonly #heldByAddress = new Map<string, number>();
  /** appid\0mailbox → who added its messages, so the bytes go back when it is deleted. */
  readonly #contributions = new Map<string, { updated: number; by: Map<string, number> }>();
  readonly #refusals = new Map<RefusalReason, number>();
  readonly #counts = { allocated: 0, claimed: 0, messages: 0 };

  constructor(options: MailboxServerOptions) {
    this.#store = options.store;
    this.#limits = options.limits;
    this.#now = options.now;
    this.#log = options.log ?? silentLogger;
    this.#welcome = options.welcome ?? {};
    this.#unlisted = new Set(options.unlistedAppids ?? []);
    const l = options.limits;
    this.#claimsByAddress = new RateLimiter({ burst: l.claimBurstPerAddress, perMinute: l.claimsPerMinutePerAddress, now: options.now });
    this.#claimsByNameplate = new RateLimiter({ burst: l.claimBurstPerNameplate, perMinute: l.claimsPerMinutePerNameplate, now: options.now });
    this.#listsByAddress = new RateLimiter({ burst: l.listBurstPerAddress, perMinute: l.listsPerMinutePerAddress, now: options.now });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Refusals so far, by reason (for /metrics). */
  get refusals(): ReadonlyMap<RefusalReason, number> {
    return this.#refusals;
  }

  /** Nameplates allocated, claims granted and messages stored since start (for /metrics). */
  get counts(): Readonly<{ allocated: number; claimed: number; messages: number }> {
    return this.#counts;
  }

  /** A client connected: the server sends `welcome`, then answers each frame passed to the handle. */
  connect(conn: ServerConnection): ConnectionHandle {
    const state: ConnState = {
      conn,
      address: conn.address ?? 'local',
      added: 0,
      didAllocate: false,
      didClaim: false,
      didRelease: false,
      listening: false,
      didClose: false,
      seen: 0,
      queue: Promise.resolve(),
      queued: 0,
      gone: false,
    };
    this.#connections.add(state);
    this.#send(state, 'welcome', { welcome: this.#welcome });
    return {
      receive: (frame) => this.#enqueue(state, frame),
      closed: () => this.#disconnect(state),
    };
  }

  /** Close every connection (1001 "going away") and forget listeners. */
  shutdown(): void {
    for (const state of [...this.#connections]) {
      state.conn.close(1001, 'server shutting down');
      this.#disconnect(state);
    }
  }

  /** Expire mailboxes and nameplates nobody has used for `limits.mailboxTtlMs`. */
  async prune(): Promise<number> {
    const now = this.#now();
    const inUse = new Map<string, string[]>();
    for (const key of this.#listeners.keys()) {
      const [appid, mailbox] = key.split('\0') as [string, string];
      inUse.set(appid, [...(inUse.get(appid) ?? []), mailbox]);
    }
    for (const [appid, mailboxes] of inUse) await this.#store.touchMailboxes(appid, mailboxes, now);
    const before = now - this.#limits.mailboxTtlMs;
    const removed = await this.#store.prune(before);
    for (const r of removed) this.#giveBack(key(r.appid, r.mailbox));
    // Mailboxes deleted through another relay (shared store) are not reported here: their bytes go
    // back to the adding address once they would have expired anyway.
    for (const [k, c] of this.#contributions) if (c.updated <= before) this.#giveBack(k);
    if (removed.length > 0) this.#log('info', 'pruned', { mailboxes: removed.length });
    return removed.length;
  }

  #giveBack(k: string): void {
    const c = this.#contributions.get(k);
    if (!c) return;
    this.#contributions.delete(k);
    for (const [address, bytes] of c.by) {
      const left = (this.#heldByAddress.get(address) ?? 0) - bytes;
      if (left > 0) this.#heldByAddress.set(address, left);
      else this.#heldByAddress.delete(address);
    }
  }

  #refused(reason: RefusalReason): void {
    this.#refusals.set(reason, (this.#refusals.get(reason) ?? 0) + 1);
  }

  #disconnect(state: ConnState): void {
    if (state.gone) return;
    state.gone = true;
    this.#connections.delete(state);
    this.#stopListening(state);
  }

  #enqueue(state: ConnState, frame: string | Uint8Array): void {
    if (state.gone) return;
    if (state.queued >= this.#limits.maxQueuedFrames) {
      this.#refused('queue-overflow');
      this.#log('warn', 'queue-overflow', { queued: state.queued });
      state.conn.close(1008, 'too many frames in flight');
      this.#disconnect(state);
      return;
    }
    const rx = this.#now();
    state.queued++;
    state.queue = state.queue
      .then(() => (state.gone ? undefined : this.#handle(state, frame, rx)))
      .catch((err: unknown) => {
        this.#log('error', 'handler-failed', { error: String(err) });
        this.#send(state, 'error', { error: 'internal error' });
      })
      .finally(() => {
        state.queued--;
      });
  }

  /** `type` is one of ours (a plain word): it and `server_tx` are appended to the fields' JSON as they are. */
  #send(state: ConnState, type: string, fields?: Record<string, unknown>): void {
    if (state.gone) return;
    const tail = `"type":"${type}","server_tx":${this.#now() / 1000}}`;
    const json = fields === undefined ? '{}' : JSON.stringify(fields);
    // The same text as JSON.stringify({ ...fields, type, server_tx }), without building that object per frame.
    state.conn.send(json.length > 2 ? `${json.slice(0, -1)},${tail}` : `{${tail}`);
  }

  /** `rx`: when the frame arrived, in milliseconds (the wire's `server_rx` is in seconds). */
  async #handle(state: ConnState, frame: string | Uint8Array, rx: number): Promise<void> {
    let msg: Record<string, unknown>;
    try {
      if (typeof frame !== 'string') throw new ProtocolError('binary frames are not part of this protocol');
      msg = parseJsonObject(frame);
    } catch (err) {
      // The Python server drops the connection here; a clear error serves clients better.
      this.#send(state, 'error', { error: (err as Error).message });
      return;
    }
    if (typeof msg.type !== 'string') {
      this.#send(state, 'error', { error: "missing 'type'", orig: msg });
      return;
    }
    try {
      const id = msg.id;
      if (id !== undefined && id !== null && (typeof id !== 'string' || id.length > ID_LIMIT)) {
        throw new Refusal(`'id' must be a string of at most ${ID_LIMIT} characters`);
      }
      this.#send(state, 'ack', { id: id ?? null });
      await this.#dispatch(state, msg, rx);
    } catch (err) {
      const reason =
        err instanceof Refusal || err instanceof StoreLimitError
          ? err.reason
          : err instanceof StoreCrowdedError
            ? 'crowded'
            : err instanceof StoreReclaimedError
              ? 'reclaimed'
              : undefined;
      if (reason === undefined) throw err;
      this.#refused(reason);
      if (reason !== 'protocol') this.#log('debug', 'refused', { reason });
      this.#send(state, 'error', { error: (err as Error).message, orig: msg });
    }
  }

  /** Take one token from `limiter` for `k`, or refuse with a `rate limited:` error. */
  #rate(limiter: RateLimiter, k: string, what: string, reason: RefusalReason): void {
    if (limiter.take(k)) return;
    const wait = limiter.waitSeconds(k);
    throw new Refusal(`${RATE_LIMITED}: ${what}, try again ${wait === undefined ? 'later' : `in ${wait} s`}`, reason);
  }

  /** A client-chosen name (appid, nameplate, mailbox id, phase): a string of bounded length. */
  #name(msg: Record<string, unknown>, field: string): string {
    const v = requireString(msg, field);
    if (v.length > this.#limits.maxNameChars)
      throw new Refusal(`'${field}' must be a string of at most ${this.#limits.maxNameChars} characters`, 'field-too-long');
    return v;
  }

  async #dispatch(state: ConnState, msg: Record<string, unknown>, rx: number): Promise<void> {
    const type = msg.type as string;
    if (type === 'ping') {
      if (!('ping' in msg)) throw new Refusal("ping requires 'ping'");
      this.#send(state, 'pong', { pong: msg.ping });
      return;
    }
    if (type === 'bind') return this.#bind(state, msg);
    if (!state.appid || !state.side) throw new Refusal('must bind first');
    const appid = state.appid;
    const side = state.side;
    switch (type) {
      case 'list': {
        if (this.#unlisted.has(appid)) throw new Refusal('list is not offered for this appid: type the whole code', 'list-unlisted');
        this.#rate(this.#listsByAddress, state.address, 'too many list requests from this address', 'list-rate');
        const nameplates = await this.#store.listNameplates(appid);
        this.#send(state, 'nameplates', { nameplates: nameplates.map((id) => ({ id })) });
        return;
      }
      case 'allocate': {
        if (state.didAllocate) throw new Refusal("you already allocated one, don't be greedy");
        this.#rate(this.#claimsByAddress, state.address, 'too many claims from this address', 'claim-rate-address');
        const nameplate = await this.#store.allocateNameplate(appid, side, rx);
        // A new code on this nameplate: claims counted before were guesses at an earlier one.
        this.#claimsByNameplate.forget(key(appid, nameplate));
        state.didAllocate = true;
        this.#counts.allocated++;
        this.#log('debug', 'allocated', { appid, nameplate });
        this.#send(state, 'allocated', { nameplate });
        return;
      }
      case 'claim': {
        if (!('nameplate' in msg)) throw new Refusal("claim requires 'nameplate'");
        if (state.didClaim) throw new Refusal('only one claim per connection');
        const nameplate = this.#name(msg, 'nameplate');
        this.#rate(this.#claimsByAddress, state.address, 'too many claims from this address', 'claim-rate-address');
        this.#rate(this.#claimsByNameplate, key(appid, nameplate), 'too many claims of this nameplate', 'claim-rate-nameplate');
        state.didClaim = true;
        state.nameplate = nameplate;
        const mailbox = await this.#store.claimNameplate(appid, nameplate, side, rx);
        this.#counts.claimed++;
        this.#send(state, 'claimed', { mailbox });
        return;
      }
      case 'release': {
        if (state.didRelease) throw new Refusal('only one release per connection');
        let nameplate: string;
        if ('nameplate' in msg) {
          nameplate = this.#name(msg, 'nameplate');
          if (state.nameplate !== undefined && nameplate !== state.nameplate) {
            throw new Refusal('release and claim must use same nameplate');
          }
        } else {
          if (state.nameplate === undefined) throw new Refusal('release without nameplate must follow claim');
          nameplate = state.nameplate;
        }
        state.didRelease = true;
        await this.#store.releaseNameplate(appid, nameplate, side, rx);
        this.#send(state, 'released');
        return;
      }
      case 'open': {
        if (state.mailbox !== undefined && state.listening) throw new Refusal('only one open per connection');
        if (!('mailbox' in msg)) throw new Refusal("open requires 'mailbox'");
        const mailbox = this.#name(msg, 'mailbox');
        state.mailbox = mailbox;
        // Watch before reading, so an add through another relay in between is not missed.
        await this.#watchRemote(appid, mailbox);
        let stored: StoredMessage[];
        try {
          stored = await this.#store.openMailbox(appid, mailbox, side, rx);
        } catch (err) {
          this.#unwatchIfUnused(key(appid, mailbox));
          throw err;
        }
        state.seen = stored.length;
        this.#listen(state, appid, mailbox);
        for (const m of stored) this.#sendMessage(state, m);
        return;
      }
      case 'add': {
        if (!state.listening || state.mailbox === undefined) throw new Refusal('must open mailbox before adding');
        if (!('phase' in msg)) throw new Refusal("missing 'phase'");
        if (!('body' in msg)) throw new Refusal("missing 'body'");
        const phase = this.#name(msg, 'phase');
        const body = requireString(msg, 'body');
        const message: StoredMessage = {
          side,
          phase,
          body,
          server_rx: rx / 1000,
          msg_id: typeof msg.id === 'string' ? msg.id : null,
        };
        const bytes = messageBytes(message);
        if (state.added + bytes > this.#limits.maxBytesPerConnection) {
          throw new Refusal(`${QUOTA_EXCEEDED}: this connection may add ${this.#limits.maxBytesPerConnection} bytes`, 'connection-quota');
        }
        const held = this.#heldByAddress.get(state.address) ?? 0;
        if (held + bytes > this.#limits.maxBytesPerAddress) {
          throw new Refusal(`${QUOTA_EXCEEDED}: this address holds ${held} bytes in the relay, try later`, 'address-quota');
        }
        await this.#store.addMessage(appid, state.mailbox, message, rx);
        state.added += bytes;
        this.#heldByAddress.set(state.address, held + bytes);
        const k = key(appid, state.mailbox);
        const c = this.#contributions.get(k) ?? { updated: rx, by: new Map<string, number>() };
        c.updated = rx;
        c.by.set(state.address, (c.by.get(state.address) ?? 0) + bytes);
        this.#contributions.set(k, c);
        this.#counts.messages++;
        for (const listener of this.#listeners.get(key(appid, state.mailbox)) ?? []) this.#sendMessage(listener, message);
        return;
      }
      case 'close': {
        if (state.didClose) throw new Refusal('only one close per connection');
        let mailbox: string;
        if ('mailbox' in msg) {
          mailbox = this.#name(msg, 'mailbox');
          if (state.mailbox !== undefined && mailbox !== state.mailbox) throw new Refusal('open and close must use same mailbox');
        } else {
          if (state.mailbox === undefined) throw new Refusal('close without mailbox must follow open');
          mailbox = state.mailbox;
        }
        const mood = msg.mood;
        if (mood !== undefined && mood !== null && (typeof mood !== 'string' || mood.length > MOOD_LIMIT)) {
          throw new Refusal(`'mood' must be a string of at most ${MOOD_LIMIT} characters`);
        }
        if (!state.listening) await this.#store.openMailbox(appid, mailbox, side, rx);
        this.#stopListening(state);
        state.didClose = true;
        const deleted = await this.#store.closeMailbox(appid, mailbox, side, (mood as string | undefined) ?? undefined, rx);
        if (deleted) {
          this.#giveBack(key(appid, mailbox));
          this.#log('info', 'mailbox-closed', { appid, mood: mood ?? null });
        }
        this.#send(state, 'closed');
        return;
      }
      default:
        throw new Refusal('unknown type');
    }
  }

  #bind(state: ConnState, msg: Record<string, unknown>): void {
    if (state.appid || state.side) throw new Refusal('already bound');
    if (!('appid' in msg)) throw new Refusal("bind requires 'appid'");
    if (!('side' in msg)) throw new Refusal("bind requires 'side'");
    const appid = this.#name(msg, 'appid');
    const side = requireString(msg, 'side');
    if (side.length > ID_LIMIT) throw new Refusal(`'side' must be a string of at most ${ID_LIMIT} characters`, 'field-too-long');
    state.appid = appid;
    state.side = side;
    const version = Array.isArray(msg.client_version) ? msg.client_version.slice(0, 2).map(String) : undefined;
    this.#log('debug', 'bind', { appid, client_version: version });
  }

  #listen(state: ConnState, appid: string, mailbox: string): void {
    const k = key(appid, mailbox);
    let set = this.#listeners.get(k);
    if (!set) this.#listeners.set(k, (set = new Set()));
    set.add(state);
    state.listening = true;
  }

  #stopListening(state: ConnState): void {
    if (!state.listening || !state.appid || state.mailbox === undefined) return;
    const k = key(state.appid, state.mailbox);
    const set = this.#listeners.get(k);
    set?.delete(state);
    if (set && set.size === 0) this.#listeners.delete(k);
    this.#unwatchIfUnused(k);
    state.listening = false;
  }

  #unwatchIfUnused(k: string): void {
    if (this.#listeners.has(k)) return;
    const stop = this.#remote.get(k);
    this.#remote.delete(k);
    stop?.then((s) => s()).catch((err: unknown) => this.#log('error', 'unwatch-failed', { error: String(err) }));
  }

  /** With a shared store: deliver adds made through other relays to our listeners of this mailbox. */
  async #watchRemote(appid: string, mailbox: string): Promise<void> {
    if (!this.#store.watch) return;
    const k = key(appid, mailbox);
    let watching = this.#remote.get(k);
    if (!watching) {
      watching = this.#store.watch(appid, mailbox, (message, index) => {
        for (const listener of this.#listeners.get(k) ?? []) if (index >= listener.seen) this.#sendMessage(listener, message);
      });
      this.#remote.set(k, watching);
    }
    await watching;
  }

  #sendMessage(state: ConnState, m: StoredMessage): void {
    this.#send(state, 'message', { side: m.side, phase: m.phase, body: m.body, server_rx: m.server_rx, id: m.msg_id });
  }
}

function key(appid: string, mailbox: string): string {
  return `${appid}\0${mailbox}`;
}

function requireString(msg: Record<string, unknown>, field: string): string {
  const v = msg[field];
  if (typeof v !== 'string') throw new Refusal(`'${field}' must be a string`);
  return v;
}
