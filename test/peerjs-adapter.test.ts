/**
 * The PeerJS adapter against a stand-in for PeerJS that keeps its two habits the adapter must live
 * with: a send on a connection whose 'open' has not fired is dropped (PeerJS only emits an error), and
 * the other side's first message can arrive before that 'open' (wrtc under load delivers it first).
 * Before the adapter waited for 'open', the waiting device's transport lost its first frame there and
 * the caller closed at the gap: the flake of transport-peerjs.test.ts. The real thing runs in
 * test/netns/peerjs-transport.netns.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { connectWithPeerJs, type PeerJsConstructor, type PeerJsDataConnection, type PeerJsPeer } from '../src/adapters/peerjsTransport.js';
import type { Transport } from '../src/effects/transport.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { RELAYED_DEAD_MS, RELAYED_KEEPALIVE_MS } from '../src/discover/relayedTransport.js';
import { TimeoutError, TransportClosedError } from '../src/errors.js';

type Handler = (arg?: unknown) => void;
/** What PeerJS's typed `on` overloads all accept. */
type AnyHandler = (arg: never) => void;

class Emitter {
  readonly #handlers = new Map<string, Handler[]>();
  on(event: string, fn: AnyHandler): void {
    this.#handlers.set(event, [...(this.#handlers.get(event) ?? []), fn as Handler]);
  }
  emit(event: string, arg?: unknown): void {
    for (const fn of this.#handlers.get(event) ?? []) fn(arg);
  }
}

/** One end of a data connection, as PeerJS's Raw connection behaves. */
class FakeConnection extends Emitter implements PeerJsDataConnection {
  open = false;
  other!: FakeConnection;
  constructor(readonly network: FakeNetwork) {
    super();
    network.connections.push(this);
  }

  send(data: unknown): void {
    if (!this.open) return this.emit('error', { type: 'not-open-yet' }); // dropped
    // As PeerJS does when the data channel throws on send ("send queue full", not open): it closes.
    if (this.network.refuse) return this.close();
    if (this.network.mute) return;
    // In order, a little later, as a data channel delivers.
    queueMicrotask(() => this.other.emit('data', data));
  }
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.emit('close');
    queueMicrotask(() => this.other.close());
  }
  /** Fires 'open' on this end. */
  opens(): void {
    this.open = true;
    this.emit('open');
  }
}

interface FakeNetwork {
  Peer: PeerJsConstructor;
  connections: FakeConnection[];
  /** Every send from now on fails as when the data channel throws. */
  refuse: boolean;
  /** Every send from now on vanishes without a word (a peer gone silent). */
  mute: boolean;
}

/** A PeerServer and its peers, in memory: ids are first come, first served. */
function fakePeerJs(): FakeNetwork {
  const network: FakeNetwork = { Peer: undefined as unknown as PeerJsConstructor, connections: [], refuse: false, mute: false };
  const registered = new Map<string, FakePeer>();
  let next = 0;
  class FakePeer extends Emitter implements PeerJsPeer {
    readonly id: string;
    constructor(id?: string) {
      super();
      this.id = id ?? `peer-${++next}`;
      const taken = registered.has(this.id);
      if (!taken) registered.set(this.id, this);
      queueMicrotask(() => (taken ? this.emit('error', { type: 'unavailable-id' }) : this.emit('open', this.id)));
    }
    connect(id: string): PeerJsDataConnection {
      const mine = new FakeConnection(network);
      const theirs = new FakeConnection(network);
      [mine.other, theirs.other] = [theirs, mine];
      setTimeout(() => {
        registered.get(id)?.emit('connection', theirs);
        // The caller's side opens first and sends its hello; the called side's 'open' comes after
        // that hello has arrived there.
        mine.opens();
        setTimeout(() => theirs.opens(), 0);
      }, 0);
      return mine;
    }
    destroy(): void {
      if (registered.get(this.id) === this) registered.delete(this.id);
    }
  }
  network.Peer = FakePeer as unknown as PeerJsConstructor;
  return network;
}

/** Resolves with the first frame `end` receives, or the reason it closed first. */
const nextEvent = (end: Transport) =>
  new Promise<string>((resolve) => {
    end.on('message', (frame) => resolve(`message ${[...frame].join()}`));
    end.on('close', (reason) => resolve(`closed: ${reason}`));
  });

describe('PeerJS adapter: what PeerJS does around open', () => {
  let ends: Transport[] = [];
  afterEach(() => {
    for (const end of ends) end.close('test over');
    ends = [];
  });

  let network: FakeNetwork;
  async function connectedPair(clock?: SimulatedClock): Promise<[Transport, Transport]> {
    network = fakePeerJs();
    const { Peer } = network;
    const contactKey = cryptoRandomBytes(32);
    const device = () => connectWithPeerJs({ Peer, peerOptions: {}, contactKey, randomBytes: cryptoRandomBytes, ...(clock ? { clock } : {}) });
    ends = await Promise.all([device(), device()]);
    return ends as [Transport, Transport];
  }

  it("a hello that arrives before the called side's open starts a transport that loses no frame", async () => {
    const [a, b] = await connectedPair();
    const [atA, atB] = [nextEvent(a), nextEvent(b)];
    await a.send(new Uint8Array([1]));
    await b.send(new Uint8Array([2]));
    expect([await atB, await atA]).toEqual(['message 1', 'message 2']);
    expect(a.closed || b.closed).toBe(false);
  });

  it('a frame PeerJS refuses (it closes the connection) ends the transport, and sends reject with why', async () => {
    const [a] = await connectedPair();
    network.refuse = true;
    const closed = nextEvent(a);
    await a.send(new Uint8Array([1]));
    const why = 'PeerJS closed the connection: its data channel refused a frame';
    expect(await closed).toBe(`closed: ${why}`);
    const err = await a.send(new Uint8Array([2])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportClosedError);
    expect((err as TransportClosedError).data).toEqual({ reason: why });
  });

  it('a frame for a connection PeerJS no longer counts open ends the transport instead of vanishing', async () => {
    const [a] = await connectedPair();
    for (const conn of network.connections) conn.open = false; // PeerJS would drop every send now
    const closed = nextEvent(a);
    await a.send(new Uint8Array([1]));
    expect(await closed).toBe('closed: the PeerJS connection was not open for a frame');
    await expect(a.send(new Uint8Array([2]))).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('runs on the injected clock: a peer gone silent is given up when the simulated clock passes the dead time', async () => {
    const clock = new SimulatedClock();
    const [a, b] = await connectedPair(clock);
    network.mute = true;
    const closed = Promise.all([nextEvent(a), nextEvent(b)]);
    // Only the simulated clock moves the keepalive: short of the dead time both ends hold on...
    for (let t = RELAYED_KEEPALIVE_MS; t < RELAYED_DEAD_MS; t += RELAYED_KEEPALIVE_MS) clock.increment(RELAYED_KEEPALIVE_MS);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.closed || b.closed).toBe(false);
    // ...and past it they give up (the first hangs up on the other: its connection closes).
    clock.increment(2 * RELAYED_KEEPALIVE_MS);
    expect(await closed).toEqual([expect.stringMatching(/^closed: /), expect.stringMatching(/^closed: /)]);
  }, 5_000); // the system clock would take RELAYED_DEAD_MS

  it('the wait for the other device times out on the injected clock', async () => {
    const clock = new SimulatedClock();
    const { Peer } = fakePeerJs();
    const alone = connectWithPeerJs({ Peer, peerOptions: {}, contactKey: cryptoRandomBytes(32), randomBytes: cryptoRandomBytes, clock, timeoutMs: 30_000 });
    clock.increment(30_000);
    await expect(alone).rejects.toBeInstanceOf(TimeoutError);
  }, 5_000); // the system clock would take 30 s
});
