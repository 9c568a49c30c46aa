/**
 * One connection per relay per device: every contact's DISCOVER session and depot client speak to the
 * relay's `/backchannel/v2` through sockets this multiplexer hands out, and all of them to one URL share
 * one real socket. 1,000 contacts hold one WebSocket, not 2,000.
 *
 * It is a {@link SocketConnector}, so the machines above it keep their sockets' life cycle (open, frames,
 * close, reconnect with their own backoff) and the journal records them as before:
 *
 * - the relay's `challenge` goes to every socket (and to a socket that joins later), so each proves its
 *   topic on this connection; a topic proven once is not proven again (the relay counts proofs);
 * - a reply that names a topic goes to the sockets that use that topic, DISCOVER's replies to the
 *   sockets that sent DISCOVER requests on it and the depot's to the depot's; an `error` goes to the
 *   socket whose request it refuses, found by the `id` each request carries (`<socket>.<n>`);
 * - closing one socket leaves (`leave`) the topics it announced, as a closed connection did; the last
 *   one closes the real socket;
 * - the real socket closing closes every socket on it (each reconnects by itself, and the new connection
 *   brings a new challenge: every topic is proven again);
 * - flow: the relay bounds the frames (and bytes) a connection has waiting to be handled. Frames go out
 *   in windows of at most `windowFrames` frames and `windowChars` characters, each closed by a `ping`;
 *   the next window waits for its `pong` (the relay handles a connection's frames in order, so the
 *   `pong` says every frame before it was handled).
 *
 * Routing reads only a frame's `type` and `topic`. Our machines and our relay write both as a frame's
 * first keys, so the mux reads them from the frame's start (`{"type":"…","topic":"…"`) and neither
 * parses the frame (the socket above parses what it receives, once) nor re-encodes what it sends (the
 * request's `id` is appended to the text). Any other frame, and every `error`, is parsed.
 * @module
 */
import type { CloseInfo, MailboxSocket, SocketConnector, SocketHandlers } from '../effects/socket.js';
import { systemClock, type Clock } from '../effects/clock.js';

/** How much a multiplexed connection sends before waiting for the relay to catch up. */
export interface RelayMuxOptions {
  /** Frames in one window (default 128; the relay's bound is 1,024 per connection, shared with what its peers send it). */
  windowFrames?: number;
  /** Characters in one window (default 2 MiB; the relay's bound is 8 MiB per connection). */
  windowChars?: number;
  /**
   * How long a window may wait for its `pong` (default 60 s): past it the relay is taken for stalled (a
   * socket open but nothing answered), the connection is closed and every session on it reconnects.
   */
  pongTimeoutMs?: number;
  /** Timers for that wait (the app's clock; default the system's). */
  clock?: Clock;
}

const DEPOT_REPLIES = new Set(['deposited', 'deposits', 'acked', 'waiting']);
/** A frame that starts with its `type` and `topic` (JSON strings without escapes: their text is their value). */
const HEAD = /^\{"type":"([A-Za-z_]{1,32})","topic":"([^"\\]{1,256})"/;
const DEPOT_REQUESTS = new Set(['deposit', 'fetch', 'ack']);

type Family = 'discover' | 'depot';

interface Virtual {
  n: number;
  handlers: SocketHandlers;
  /** Per topic it used: which replies it wants. */
  topics: Map<string, Set<Family>>;
  /** Topics it announced: left when it closes. */
  announced: Set<string>;
  /** Requests sent, for the next `id`. */
  sent: number;
  closed: boolean;
}

interface Link {
  url: string;
  socket?: MailboxSocket;
  open: boolean;
  /** The relay's challenge on this connection, once it came. */
  challenge?: string;
  /** Topics a `prove` went out for on this connection. */
  proven: Set<string>;
  /** The `id` of each `prove` not answered yet, by topic: a refused proof may be sent again. */
  proving: Map<string, string>;
  virtuals: Map<number, Virtual>;
  byTopic: Map<string, Set<Virtual>>;
  /** Frames waiting for the window, oldest first. */
  queue: string[];
  windowFrames: number;
  windowChars: number;
  /** A `ping` closes the current window; the next one starts at its `pong`. */
  waiting: boolean;
  /** The timer that gives up on the relay when the `pong` does not come. */
  pongTimer?: unknown;
  gone: boolean;
  /** How the real socket closed, once it did. */
  lostInfo?: CloseInfo;
}

/**
 * Hands out sockets to the relay's DISCOVER endpoint that share one real socket per URL (see the
 * module comment). One per device: the app creates it with the injected connector and gives its
 * {@link RelayMux.connector} to every contact's DISCOVER session and depot client.
 */
export class RelayMux {
  readonly #connect: SocketConnector;
  readonly #windowFrames: number;
  readonly #windowChars: number;
  readonly #pongTimeoutMs: number;
  readonly #clock: Clock;
  readonly #links = new Map<string, Link>();
  #nextVirtual = 0;

  constructor(connector: SocketConnector, options: RelayMuxOptions = {}) {
    this.#connect = connector;
    this.#windowFrames = Math.max(1, options.windowFrames ?? 128);
    this.#windowChars = Math.max(1, options.windowChars ?? 2 * 1024 * 1024);
    this.#pongTimeoutMs = options.pongTimeoutMs ?? 60_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** Real sockets open or opening now (one per relay in use). */
  get connections(): number {
    return this.#links.size;
  }

  /** A {@link SocketConnector} whose sockets to one URL share one real socket. */
  readonly connector: SocketConnector = (url, handlers) => this.#open(url, handlers);

  #open(url: string, handlers: SocketHandlers): MailboxSocket {
    let link = this.#links.get(url);
    // A link already gone (a connector that reported the close inside its own call) is never reused.
    if (!link || link.gone) {
      link = this.#dial(url);
      if (!link.gone) this.#links.set(url, link);
    }
    const v: Virtual = { n: this.#nextVirtual++, handlers, topics: new Map(), announced: new Set(), sent: 0, closed: false };
    link.virtuals.set(v.n, v);
    const joined = link;
    // As a real socket would: open and the first frame (or the close) come later, never inside the connector call.
    if (link.gone)
      queueMicrotask(() => {
        if (v.closed) return;
        v.closed = true;
        v.handlers.onClose(joined.lostInfo ?? { code: 1006 });
      });
    else if (link.open)
      queueMicrotask(() => {
        if (v.closed || joined.gone) return;
        v.handlers.onOpen();
        if (joined.challenge && !v.closed) v.handlers.onMessage(challengeFrame(joined.challenge));
      });
    return {
      send: (text) => this.#send(joined, v, text),
      close: () => this.#close(joined, v),
    };
  }

  #dial(url: string): Link {
    const link: Link = {
      url,
      open: false,
      proven: new Set(),
      proving: new Map(),
      virtuals: new Map(),
      byTopic: new Map(),
      queue: [],
      windowFrames: 0,
      windowChars: 0,
      waiting: false,
      gone: false,
    };
    link.socket = this.#connect(url, {
      onOpen: () => {
        if (link.gone) return;
        link.open = true;
        for (const v of [...link.virtuals.values()]) if (!v.closed) v.handlers.onOpen();
        this.#pump(link);
      },
      onMessage: (text) => this.#receive(link, text),
      onClose: (info) => this.#lost(link, info),
    });
    return link;
  }

  /** A frame from a socket above: tagged with an id, its topic noted, queued for the window. */
  #send(link: Link, v: Virtual, text: string): void {
    if (v.closed || link.gone) return;
    // The fast path: `type` and `topic` read from the start, the id appended (no `id` of its own to replace).
    const head = text.endsWith('}') && !text.includes('"id":') ? HEAD.exec(text) : null;
    let frame: Record<string, unknown> | undefined;
    if (!head) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
        frame = parsed as Record<string, unknown>;
      } catch {
        return; // only our own machines write here, and they write JSON
      }
    }
    const type = head ? head[1]! : String(frame!.type);
    const topic = head ? head[2] : typeof frame!.topic === 'string' ? frame!.topic : undefined;
    if (topic !== undefined) {
      let families = v.topics.get(topic);
      if (!families) v.topics.set(topic, (families = new Set()));
      // A proof serves both (its `proven` goes to every socket on the topic); other requests say which replies to route here.
      if (type !== 'prove') families.add(DEPOT_REQUESTS.has(type) ? 'depot' : 'discover');
      let users = link.byTopic.get(topic);
      if (!users) link.byTopic.set(topic, (users = new Set()));
      users.add(v);
      if (type === 'prove') {
        // One proof per topic and connection: the DISCOVER session and the depot client share it.
        if (link.proven.has(topic)) return;
        link.proven.add(topic);
      }
      if (type === 'announce') v.announced.add(topic);
      if (type === 'leave') v.announced.delete(topic);
    }
    const id = `${v.n}.${v.sent++}`;
    if (type === 'prove' && topic !== undefined) link.proving.set(topic, id);
    if (frame) frame.id = id;
    link.queue.push(frame ? JSON.stringify(frame) : `${text.slice(0, -1)},"id":"${id}"}`);
    this.#pump(link);
  }

  /** Send what the window allows; close a full window with a `ping` and wait for its `pong`. */
  #pump(link: Link): void {
    if (!link.open || link.gone) return;
    while (link.queue.length > 0 && !link.waiting) {
      const next = link.queue[0]!;
      if (link.windowFrames > 0 && (link.windowFrames + 1 > this.#windowFrames || link.windowChars + next.length > this.#windowChars)) {
        link.waiting = true;
        link.socket!.send('{"type":"ping"}');
        link.pongTimer = this.#clock.setTimeout(() => {
          if (!link.waiting || link.gone) return;
          link.socket!.close();
          this.#lost(link, { code: 1006, reason: `the relay did not answer for ${this.#pongTimeoutMs} ms` });
        }, this.#pongTimeoutMs);
        return;
      }
      link.queue.shift();
      link.windowFrames++;
      link.windowChars += next.length;
      link.socket!.send(next);
    }
  }

  #receive(link: Link, text: string): void {
    if (link.gone) return;
    // Most frames name their topic at the start: routed from there, parsed only by the socket above.
    const head = HEAD.exec(text);
    if (head && head[1] !== 'error') return this.#route(link, text, head[1]!, head[2]!);
    let m: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
      m = parsed as Record<string, unknown>;
    } catch {
      return;
    }
    switch (m.type) {
      case 'challenge':
        if (typeof m.challenge !== 'string' || link.challenge !== undefined) return;
        link.challenge = m.challenge;
        for (const v of [...link.virtuals.values()]) if (!v.closed) v.handlers.onMessage(text);
        return;
      case 'pong':
        // The relay handled every frame before our ping: a new window.
        if (!link.waiting) return;
        this.#clock.clearTimeout(link.pongTimer);
        link.waiting = false;
        link.windowFrames = 0;
        link.windowChars = 0;
        return this.#pump(link);
      case 'error': {
        // A refused proof (the relay full for now, say) is not a proof: the next `prove` must go out, and
        // the other sockets on the topic (whose own `prove` was held back as shared) are told to prove
        // again: the challenge, as on a new connection.
        if (m.re === 'prove')
          for (const [topic, id] of link.proving)
            if (id === m.id) {
              link.proving.delete(topic);
              link.proven.delete(topic);
              const owner = link.virtuals.get(Number(id.split('.')[0]));
              for (const v of [...(link.byTopic.get(topic) ?? [])])
                if (v !== owner && !v.closed && link.challenge) v.handlers.onMessage(challengeFrame(link.challenge));
            }
        // The refused request's socket, by the id we gave it; a refusal of nothing we sent is dropped.
        const owner = typeof m.id === 'string' ? link.virtuals.get(Number(m.id.split('.')[0])) : undefined;
        if (owner && !owner.closed) owner.handlers.onMessage(text);
        return;
      }
    }
    if (typeof m.topic === 'string') this.#route(link, text, String(m.type), m.topic);
  }

  /** A reply that names a topic: to the sockets on it that want its family (a `proven`: to all of them). */
  #route(link: Link, text: string, type: string, topic: string): void {
    if (type === 'proven') link.proving.delete(topic);
    const family: Family | undefined = type === 'proven' ? undefined : DEPOT_REPLIES.has(type) ? 'depot' : 'discover';
    for (const v of [...(link.byTopic.get(topic) ?? [])])
      if (!v.closed && (family === undefined || v.topics.get(topic)?.has(family))) v.handlers.onMessage(text);
  }

  /** One socket above closes: it leaves what it announced; the last one closes the real socket. */
  #close(link: Link, v: Virtual): void {
    if (v.closed) return;
    v.closed = true;
    link.virtuals.delete(v.n);
    for (const topic of v.topics.keys()) {
      const users = link.byTopic.get(topic);
      users?.delete(v);
      if (users?.size === 0) link.byTopic.delete(topic);
    }
    if (link.gone) return;
    if (link.virtuals.size === 0) {
      link.gone = true;
      this.#clock.clearTimeout(link.pongTimer);
      this.#links.delete(link.url);
      link.socket!.close();
      return;
    }
    for (const topic of v.announced) {
      link.queue.push(JSON.stringify({ type: 'leave', topic }));
    }
    this.#pump(link);
  }

  /** The real socket closed: every socket on it closes (each reconnects by itself, to a new one). */
  #lost(link: Link, info: CloseInfo): void {
    if (link.gone) return;
    link.gone = true;
    link.lostInfo = info;
    this.#clock.clearTimeout(link.pongTimer);
    if (this.#links.get(link.url) === link) this.#links.delete(link.url);
    const virtuals = [...link.virtuals.values()];
    link.virtuals.clear();
    link.byTopic.clear();
    link.queue = [];
    for (const v of virtuals) {
      if (v.closed) continue;
      v.closed = true;
      v.handlers.onClose(info);
    }
  }
}

const challengeFrame = (challenge: string) => JSON.stringify({ type: 'challenge', challenge });
