/**
 * DISCOVER on the relay: devices announce a topic (blake3 of a contact key, hex) and are routed to the
 * other devices on it. The server hands out a random peer id per (connection, topic), forwards sealed
 * blobs between peers of one topic, and sees nothing else: no keys, no SDP, no addresses inside blobs.
 *
 *   → {type:"announce", topic}                 ← {type:"announced", topic, peer, peers:[…]}
 *                                               ← {type:"joined"|"left", topic, peer}   (to the others)
 *   → {type:"send", topic, to, kind, blob}      ← {type:"message", topic, from, kind, blob}  (to `to`)
 *   → {type:"leave", topic}   → {type:"ping"} ← {type:"pong"}      errors: ← {type:"error", error}
 *
 * `kind` is "signal" (sealed signalling) or "data" (the sealed relayed fallback channel).
 *
 * The offline mailbox (with a depot configured), for whoever knows the topic:
 *   → {type:"deposit", topic, blob}     ← {type:"deposited", topic, id}
 *   → {type:"fetch", topic}             ← {type:"deposits", topic, items:[{id, blob}]}
 *   → {type:"ack", topic, ids:[…]}      ← {type:"acked", topic}
 * @module
 */
import { DepotRefusal, type Depot } from './depot.js';
import { silentLogger, type Logger } from './log.js';
import type { ServerConnection, ConnectionHandle } from './mailboxServer.js';

export interface DiscoveryLimits {
  maxTopicsPerConnection: number;
  maxPeersPerTopic: number;
  /** Largest blob, in base64 characters, per kind. */
  maxSignalChars: number;
  maxDataChars: number;
}

export const DEFAULT_DISCOVERY_LIMITS: Readonly<DiscoveryLimits> = Object.freeze({
  maxTopicsPerConnection: 64,
  maxPeersPerTopic: 16,
  maxSignalChars: 16 * 1024,
  maxDataChars: 128 * 1024,
});

const TOPIC = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

interface Member {
  conn: Conn;
  peer: string;
}
interface Conn {
  out: ServerConnection;
  topics: Map<string, string>; // topic → our peer id there
  gone: boolean;
}

export class DiscoveryServer {
  readonly #limits: DiscoveryLimits;
  readonly #log: Logger;
  readonly #randomBytes: (n: number) => Uint8Array;
  /** topic → peer id → member */
  readonly #topics = new Map<string, Map<string, Member>>();
  readonly #conns = new Set<Conn>();

  readonly #depot: Depot | undefined;

  constructor(options: { limits?: Partial<DiscoveryLimits>; log?: Logger; randomBytes: (n: number) => Uint8Array; depot?: Depot }) {
    this.#depot = options.depot;
    this.#limits = { ...DEFAULT_DISCOVERY_LIMITS, ...options.limits };
    this.#log = options.log ?? silentLogger;
    this.#randomBytes = options.randomBytes;
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  connect(out: ServerConnection): ConnectionHandle {
    const conn: Conn = { out, topics: new Map(), gone: false };
    this.#conns.add(conn);
    return {
      receive: (frame) => this.#receive(conn, frame),
      closed: () => this.#disconnect(conn),
    };
  }

  shutdown(): void {
    for (const conn of [...this.#conns]) {
      conn.out.close(1001, 'server shutting down');
      this.#disconnect(conn);
    }
  }

  #send(conn: Conn, frame: Record<string, unknown>): void {
    if (!conn.gone) conn.out.send(JSON.stringify(frame));
  }

  #error(conn: Conn, error: string): void {
    this.#send(conn, { type: 'error', error });
  }

  #receive(conn: Conn, frame: string | Uint8Array): void {
    if (conn.gone) return;
    if (typeof frame !== 'string') return this.#error(conn, 'binary frames are not part of this protocol');
    let m: Record<string, unknown>;
    try {
      const v = JSON.parse(frame) as unknown;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error();
      m = v as Record<string, unknown>;
    } catch {
      return this.#error(conn, 'frame is not a JSON object');
    }
    const topic = m.topic;
    switch (m.type) {
      case 'ping':
        return this.#send(conn, { type: 'pong' });
      case 'announce': {
        if (typeof topic !== 'string' || !TOPIC.test(topic)) return this.#error(conn, "announce needs a 'topic' of 64 hex digits");
        if (conn.topics.has(topic)) return this.#error(conn, 'already announced on this topic');
        if (conn.topics.size >= this.#limits.maxTopicsPerConnection) return this.#error(conn, `at most ${this.#limits.maxTopicsPerConnection} topics per connection`);
        let members = this.#topics.get(topic);
        if (!members) this.#topics.set(topic, (members = new Map()));
        if (members.size >= this.#limits.maxPeersPerTopic) return this.#error(conn, `topic is full (${this.#limits.maxPeersPerTopic} peers)`);
        const peer = Array.from(this.#randomBytes(8), (b) => b.toString(16).padStart(2, '0')).join('');
        const others = [...members.keys()];
        members.set(peer, { conn, peer });
        conn.topics.set(topic, peer);
        this.#send(conn, { type: 'announced', topic, peer, peers: others });
        for (const id of others) this.#send(members.get(id)!.conn, { type: 'joined', topic, peer });
        return;
      }
      case 'leave': {
        if (typeof topic !== 'string' || !conn.topics.has(topic)) return this.#error(conn, 'not announced on this topic');
        return this.#leave(conn, topic);
      }
      case 'send': {
        if (typeof topic !== 'string' || !conn.topics.has(topic)) return this.#error(conn, 'announce the topic before sending on it');
        const kind = m.kind;
        if (kind !== 'signal' && kind !== 'data') return this.#error(conn, "kind must be 'signal' or 'data'");
        const blob = m.blob;
        const max = kind === 'signal' ? this.#limits.maxSignalChars : this.#limits.maxDataChars;
        if (typeof blob !== 'string' || !BASE64.test(blob)) return this.#error(conn, 'blob must be base64');
        if (blob.length > max) return this.#error(conn, `blob too large (${blob.length} > ${max} characters)`);
        const target = typeof m.to === 'string' ? this.#topics.get(topic)?.get(m.to) : undefined;
        if (!target) return this.#error(conn, 'no such peer on this topic');
        this.#send(target.conn, { type: 'message', topic, from: conn.topics.get(topic), kind, blob });
        return;
      }
      case 'deposit':
      case 'fetch':
      case 'ack':
        return this.#mailbox(conn, m);
      default:
        return this.#error(conn, 'unknown type');
    }
  }

  #mailbox(conn: Conn, m: Record<string, unknown>): void {
    const depot = this.#depot;
    const topic = m.topic;
    if (!depot) return this.#error(conn, 'this relay keeps no offline mailbox');
    // Knowing the topic (a hash of the contact key) is the credential; no announce needed, so a device
    // can check its mailbox without showing up as a peer to the other device.
    if (typeof topic !== 'string' || !TOPIC.test(topic)) return this.#error(conn, "the mailbox needs a 'topic' of 64 hex digits");
    const fail = (err: unknown) => this.#error(conn, err instanceof DepotRefusal ? err.message : 'mailbox error');
    if (m.type === 'deposit') {
      if (typeof m.blob !== 'string' || !BASE64.test(m.blob)) return this.#error(conn, 'blob must be base64');
      depot.deposit(topic, m.blob).then((id) => this.#send(conn, { type: 'deposited', topic, id }), fail);
    } else if (m.type === 'fetch') {
      depot.fetch(topic).then((items) => this.#send(conn, { type: 'deposits', topic, items }), fail);
    } else {
      const ids = Array.isArray(m.ids) ? m.ids.filter((x): x is string => typeof x === 'string').slice(0, 10_000) : [];
      depot.ack(topic, ids).then(() => this.#send(conn, { type: 'acked', topic }), fail);
    }
  }

  #leave(conn: Conn, topic: string): void {
    const peer = conn.topics.get(topic)!;
    conn.topics.delete(topic);
    const members = this.#topics.get(topic);
    members?.delete(peer);
    if (members && members.size === 0) this.#topics.delete(topic);
    for (const m of members?.values() ?? []) this.#send(m.conn, { type: 'left', topic, peer });
  }

  #disconnect(conn: Conn): void {
    if (conn.gone) return;
    for (const topic of [...conn.topics.keys()]) this.#leave(conn, topic);
    conn.gone = true;
    this.#conns.delete(conn);
    this.#log('debug', 'discovery-disconnect', {});
  }
}
