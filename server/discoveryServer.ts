/**
 * DISCOVER on the relay: devices announce a topic (blake3 of a contact's topic public key, hex) and are
 * routed to the other devices on it. The server hands out a random peer id per (connection, topic),
 * forwards sealed blobs between peers of one topic, and sees nothing else: no keys, no SDP, no
 * addresses inside blobs.
 *
 * A connection uses a topic only once it proved it holds the topic key: the relay's first frame is a
 * fresh random challenge; `prove` answers it with the topic's public key and a signature over the
 * challenge (src/crypto/topicKey.ts). Checked with nothing stored (blake3(key) = topic, the signature
 * verifies), so it holds the same on every relay sharing Redis; a proof copied from another connection
 * signs another challenge and fails.
 *
 *                                              ← {type:"challenge", challenge}   (first)
 *   → {type:"prove", topic, key, signature}    ← {type:"proven", topic}
 *   → {type:"announce", topic}                 ← {type:"announced", topic, peer, peers:[…]}
 *                                               ← {type:"joined"|"left", topic, peer}   (to the others)
 *   → {type:"send", topic, to, kind, blob}      ← {type:"message", topic, from, kind, blob}  (to `to`)
 *   → {type:"leave", topic}   → {type:"ping"} ← {type:"pong"}
 *   a refused request: ← {type:"error", re: <its type>, id?: <its id>, reason, code?}  (code "unproven": prove first)
 *
 * `kind` is "signal" (sealed signalling) or "data" (the sealed relayed fallback channel). The frames,
 * their fields and their checks are in src/discover/wire.ts, shared with the client.
 *
 * The depot (when the relay keeps one), on proven topics: deposit, fetch, ack; its frames, their guards
 * and the error envelope are in `src/depot/wire.ts`.
 * @module
 */
import { CHALLENGE_LENGTH, verifyTopicProof, type TopicProof } from '../src/crypto/topicKey.js';
import { toHex } from '../src/crypto/bytes.js';
import { errorFrame, parseDiscoverRequest, parseJsonFrame, reasonOf, UNPROVEN, type DiscoverReply } from '../src/discover/wire.js';
import { DepotRefusal, type Depot } from './depot.js';
import {
  depotRequestProblem,
  isDepotRequestType,
  type AckedFrame,
  type DepositedFrame,
  type DepositsFrame,
  type DepotRequestType,
  type WaitingFrame,
} from '../src/depot/wire.js';
import { MemoryDiscoveryHub, type DiscoveryHub, type HubFrame } from './discoveryHub.js';
import { silentLogger, type Logger } from './log.js';
import type { ServerConnection, ConnectionHandle } from './mailboxServer.js';

/** The bounds DISCOVER enforces: topics and proofs per connection, peers per topic, blob sizes, queued frames. */
export interface DiscoveryLimits {
  maxTopicsPerConnection: number;
  maxPeersPerTopic: number;
  /** Largest blob, in base64 characters, per kind. */
  maxSignalChars: number;
  maxDataChars: number;
  /** Frames read from one connection and not yet handled; beyond this it is closed (1008). */
  maxQueuedFrames: number;
  /** Bytes of those frames; beyond this it is closed (1008), so a client that pipelines big deposits holds bounded memory. */
  maxQueuedBytes: number;
  /**
   * `prove` frames one connection may send (each costs a signature check), and so the topics it can
   * prove; past this, proofs are refused.
   */
  maxProofsPerConnection: number;
  /**
   * Topics proven over every connection of this relay at once: with thousands of topics on one
   * connection (a device multiplexes all its contacts), what bounds the relay's memory as a whole.
   * Past it, proofs are refused (not as `unproven`: the device tries again later).
   */
  maxProvenTopics: number;
}

/** The DISCOVER limits used when none are given. */
export const DEFAULT_DISCOVERY_LIMITS: Readonly<DiscoveryLimits> = Object.freeze({
  // A device holds one connection for all its contacts (src/discover/relayMux.ts): 1,000 contacts and room.
  maxTopicsPerConnection: 2048,
  maxPeersPerTopic: 16,
  maxSignalChars: 16 * 1024,
  maxDataChars: 128 * 1024,
  // One connection carries every contact of a device (its peers' frames wait in the same queue); the bytes bound stays.
  maxQueuedFrames: 1024,
  maxQueuedBytes: 8 * 1024 * 1024,
  maxProofsPerConnection: 2048,
  maxProvenTopics: 250_000,
});

interface Conn {
  out: ServerConnection;
  /** What this connection's proofs sign: random, sent as its first frame. */
  challenge: Uint8Array;
  /** Topics this connection proved it holds the key of. */
  proven: Set<string>;
  /** `prove` frames received, held or not. */
  proofs: number;
  topics: Map<string, string>; // topic → our peer id there
  /** Depot topics this connection fetched: it hears `waiting` when someone deposits there. */
  watching: Set<string>;
  gone: boolean;
  /**
   * Frames from this connection and frames for it run one after another: a frame the hub delivers
   * while this connection's `announce` is still joining goes out after `announced`, never before.
   */
  queue: Promise<void>;
  /** Frames (and their bytes) this connection sent that `queue` has not handled yet. */
  queuedFrames: number;
  queuedBytes: number;
}

/** DISCOVER on the relay: topics proven by key, sealed blobs forwarded between their peers, and the depot's requests. */
export class DiscoveryServer {
  readonly #limits: DiscoveryLimits;
  readonly #log: Logger;
  readonly #randomBytes: (n: number) => Uint8Array;
  readonly #checkProof: (challenge: Uint8Array, proof: TopicProof) => boolean;
  readonly #hub: DiscoveryHub;
  readonly #conns = new Set<Conn>();
  readonly #depot: Depot | undefined;
  /** Refusals since start, by reason, for /metrics (`topic-unproven`: a request or proof on a topic not proven). */
  readonly #refusals = new Map<string, number>();
  /** Topics proven, summed over connections (bounded by `maxProvenTopics`). */
  #provenTotal = 0;
  /** topic → connections that fetched it (this relay only; other relays' fetchers poll). */
  readonly #watchers = new Map<string, Set<Conn>>();

  constructor(options: {
    limits?: Partial<DiscoveryLimits>;
    log?: Logger;
    randomBytes: (n: number) => Uint8Array;
    depot?: Depot;
    hub?: DiscoveryHub;
    /**
     * Checks a `prove` (default: the pure-JS `verifyTopicProof`, which runs anywhere; `startRelay` gives
     * Node's native Ed25519, the same rules, several times quicker).
     */
    checkProof?: (challenge: Uint8Array, proof: TopicProof) => boolean;
  }) {
    this.#checkProof = options.checkProof ?? verifyTopicProof;
    this.#depot = options.depot;
    this.#hub = options.hub ?? new MemoryDiscoveryHub();
    this.#limits = { ...DEFAULT_DISCOVERY_LIMITS, ...options.limits };
    this.#log = options.log ?? silentLogger;
    this.#randomBytes = options.randomBytes;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  get refusals(): ReadonlyMap<string, number> {
    return this.#refusals;
  }

  /** A client connected: it gets a challenge, then the handle takes its frames. */
  connect(out: ServerConnection): ConnectionHandle {
    const conn: Conn = {
      out,
      challenge: this.#randomBytes(CHALLENGE_LENGTH),
      proven: new Set(),
      proofs: 0,
      topics: new Map(),
      watching: new Set(),
      gone: false,
      queue: Promise.resolve(),
      queuedFrames: 0,
      queuedBytes: 0,
    };
    this.#conns.add(conn);
    this.#send(conn, { type: 'challenge', challenge: toHex(conn.challenge) });
    return {
      receive: (frame) => this.#accept(conn, frame),
      closed: () => this.#disconnect(conn),
    };
  }

  /** Close every client with 1001 and leave their topics (so peers on other relays hear `left`). */
  async shutdown(): Promise<void> {
    const conns = [...this.#conns];
    for (const conn of conns) conn.out.close(1001, 'server shutting down');
    await Promise.all(conns.map((conn) => this.#disconnect(conn)));
  }

  /** A frame read from `conn`: queued behind its earlier ones, within the bound on frames in flight. */
  #accept(conn: Conn, frame: string | Uint8Array): Promise<void> {
    return this.#inFlight(conn, typeof frame === 'string' ? frame.length : frame.byteLength, () => this.#receive(conn, frame));
  }

  /**
   * Queue `step` on `conn`, counted with `bytes` against its bound on frames (and bytes) in flight, both
   * ways: frames read from it and frames for it (from its peers, `waiting`) wait in one queue. Past
   * the bound the connection is closed (1008): a client that pipelines without waiting for replies, or
   * one whose queue is stuck while peers keep sending to it, holds bounded memory.
   */
  #inFlight(conn: Conn, bytes: number, step: () => void | Promise<void>): Promise<void> {
    if (conn.gone) return Promise.resolve();
    const { maxQueuedFrames, maxQueuedBytes } = this.#limits;
    if (conn.queuedFrames + 1 > maxQueuedFrames || conn.queuedBytes + bytes > maxQueuedBytes) {
      this.#log('warn', 'discovery-queue-overflow', { frames: conn.queuedFrames, bytes: conn.queuedBytes });
      conn.out.close(1008, 'too many frames in flight');
      void this.#disconnect(conn);
      return Promise.resolve();
    }
    conn.queuedFrames++;
    conn.queuedBytes += bytes;
    return this.#enqueue(conn, async () => {
      try {
        await step();
      } finally {
        conn.queuedFrames--;
        conn.queuedBytes -= bytes;
      }
    });
  }

  #enqueue(conn: Conn, step: () => void | Promise<void>): Promise<void> {
    conn.queue = conn.queue.then(step).catch((err: unknown) => {
      this.#log('error', 'discovery-failed', { error: String(err) });
      this.#error(conn, null, 'relay error');
    });
    return conn.queue;
  }

  #send(conn: Conn, frame: DiscoverReply | Record<string, unknown>): void {
    if (!conn.gone) conn.out.send(JSON.stringify(frame));
  }

  /** Refuse `request` (null: the frame was not a readable request): an error frame that names it. */
  #error(conn: Conn, request: Record<string, unknown> | null, reason: string, code?: string): void {
    if (code === UNPROVEN) this.#refusals.set('topic-unproven', (this.#refusals.get('topic-unproven') ?? 0) + 1);
    this.#send(conn, errorFrame(request, reason, code));
  }

  /** Refuse `request` on a topic this connection has not proven. */
  #unproven(conn: Conn, request: Record<string, unknown>): void {
    this.#error(conn, request, 'prove the topic key on this connection first', UNPROVEN);
  }

  #deliver(conn: Conn, frame: HubFrame): void {
    const reply: DiscoverReply =
      frame.type === 'message'
        ? { type: 'message', topic: frame.topic, from: frame.from, kind: frame.kind, blob: frame.blob }
        : { type: frame.type, topic: frame.topic, peer: frame.peer };
    const bytes = frame.type === 'message' ? frame.blob.length : 0;
    void this.#inFlight(conn, bytes, () => this.#send(conn, reply));
  }

  async #receive(conn: Conn, raw: string | Uint8Array): Promise<void> {
    if (conn.gone) return;
    const read = parseJsonFrame(raw);
    if (!read.ok) return this.#error(conn, null, reasonOf(read.error));
    const m = read.frame;
    if (isDepotRequestType(m.type)) return this.#depotRequest(conn, m as Record<string, unknown> & { type: DepotRequestType });
    const parsed = parseDiscoverRequest(m, this.#limits);
    if (!parsed.ok) return this.#error(conn, m, reasonOf(parsed.error));
    const request = parsed.frame;
    switch (request.type) {
      case 'ping':
        return this.#send(conn, { type: 'pong' });
      case 'prove': {
        const { topic } = request;
        if (conn.proofs >= this.#limits.maxProofsPerConnection)
          return this.#error(conn, m, `at most ${this.#limits.maxProofsPerConnection} proofs per connection`, UNPROVEN);
        conn.proofs++;
        if (conn.proven.has(topic)) return this.#send(conn, { type: 'proven', topic });
        if (this.#provenTotal >= this.#limits.maxProvenTopics) return this.#error(conn, m, 'too many topics on this relay now: try again later');
        if (!this.#checkProof(conn.challenge, request)) return this.#error(conn, m, 'the proof does not hold for this topic and connection', UNPROVEN);
        conn.proven.add(topic);
        this.#provenTotal++;
        return this.#send(conn, { type: 'proven', topic });
      }
      case 'announce': {
        const { topic } = request;
        if (!conn.proven.has(topic)) return this.#unproven(conn, m);
        if (conn.topics.has(topic)) return this.#error(conn, m, 'already announced on this topic');
        if (conn.topics.size >= this.#limits.maxTopicsPerConnection)
          return this.#error(conn, m, `at most ${this.#limits.maxTopicsPerConnection} topics per connection`);
        const peer = Array.from(this.#randomBytes(8), (b) => b.toString(16).padStart(2, '0')).join('');
        const others = await this.#hub.join(topic, peer, (f) => this.#deliver(conn, f), this.#limits.maxPeersPerTopic);
        if (others === 'full') return this.#error(conn, m, `topic is full (${this.#limits.maxPeersPerTopic} peers)`);
        if (conn.gone) return this.#hub.leave(topic, peer); // closed while joining
        conn.topics.set(topic, peer);
        return this.#send(conn, { type: 'announced', topic, peer, peers: others });
      }
      case 'leave': {
        if (!conn.topics.has(request.topic)) return this.#error(conn, m, 'not announced on this topic');
        return this.#leave(conn, request.topic);
      }
      case 'send': {
        const { topic, to, kind, blob } = request;
        if (!conn.topics.has(topic)) return this.#error(conn, m, 'announce the topic before sending on it');
        const sent = await this.#hub.send(topic, conn.topics.get(topic)!, to, kind, blob);
        if (!sent) this.#error(conn, m, 'no such peer on this topic');
        return;
      }
    }
  }

  /** A depot request: the reply, or an error frame naming the request (`re`) it answers. */
  #depotRequest(conn: Conn, m: Record<string, unknown> & { type: DepotRequestType }): void | Promise<void> {
    const depot = this.#depot;
    const refuse = (reason: string) => this.#error(conn, m, reason);
    if (!depot) return refuse('this relay keeps no depot');
    const problem = depotRequestProblem(m);
    if (problem) return refuse(problem);
    const topic = m.topic as string;
    // A proven topic is the credential (knowing the topic is not); no announce needed, so a device can
    // check its depot without showing up as a peer to the other device.
    if (!conn.proven.has(topic)) return this.#unproven(conn, m);
    const fail = (err: unknown) => refuse(err instanceof DepotRefusal ? err.message : 'depot error');
    // Returned, so the connection's queue waits: replies keep the order of the requests.
    if (m.type === 'deposit') {
      return depot.deposit(topic, m.blob as string, m.tag as string | undefined, m.readers as string[] | undefined).then((id) => {
        this.#send(conn, { type: 'deposited', topic, id } satisfies DepositedFrame);
        // Whoever collects this topic here hears of it now instead of at its next poll.
        const waiting: WaitingFrame = { type: 'waiting', topic };
        for (const other of this.#watchers.get(topic) ?? []) if (other !== conn) void this.#inFlight(other, 0, () => this.#send(other, { ...waiting }));
      }, fail);
    } else if (m.type === 'fetch') {
      this.#watch(conn, topic);
      const after = typeof m.after === 'string' ? m.after : undefined;
      return depot
        .fetch(topic, after, m.skip as string | undefined, m.mine as string[] | undefined)
        .then(({ items, more }) => this.#send(conn, { type: 'deposits', topic, items, ...(more ? { more } : {}) } satisfies DepositsFrame), fail);
    } else {
      return depot
        .ack(topic, m.ids as string[], m.tag as string | undefined, m.tokens as string[] | undefined)
        .then(() => this.#send(conn, { type: 'acked', topic } satisfies AckedFrame), fail);
    }
  }

  #watch(conn: Conn, topic: string): void {
    if (conn.watching.has(topic) || conn.watching.size >= this.#limits.maxTopicsPerConnection) return;
    conn.watching.add(topic);
    let set = this.#watchers.get(topic);
    if (!set) this.#watchers.set(topic, (set = new Set()));
    set.add(conn);
  }

  async #leave(conn: Conn, topic: string): Promise<void> {
    const peer = conn.topics.get(topic)!;
    conn.topics.delete(topic);
    await this.#hub.leave(topic, peer);
  }

  async #disconnect(conn: Conn): Promise<void> {
    if (conn.gone) return;
    conn.gone = true;
    this.#conns.delete(conn);
    this.#provenTotal -= conn.proven.size;
    for (const topic of conn.watching) {
      const set = this.#watchers.get(topic);
      set?.delete(conn);
      if (set?.size === 0) this.#watchers.delete(topic);
    }
    const topics = [...conn.topics.keys()];
    await Promise.all(topics.map((topic) => this.#leave(conn, topic))).catch((err: unknown) =>
      this.#log('error', 'discovery-leave-failed', { error: String(err) }),
    );
    this.#log('debug', 'discovery-disconnect', {});
  }
}
