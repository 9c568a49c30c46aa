/**
 * RelayMux (src/discover/relayMux.ts) over the in-memory network and the real DiscoveryServer: many
 * sockets above, one connection below; one proof per topic; replies routed by topic and family,
 * refusals by request id; a closed socket leaves its topics; windows closed by ping keep a pipelining
 * device within the relay's bound on frames in flight; a lost connection closes every socket above and
 * the next one is a new connection with a new challenge. Frames that start with their type and topic
 * pass through the mux unparsed, both ways.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { DiscoveryServer, type DiscoveryLimits } from '../server/discoveryServer.js';
import { MemoryNetwork } from '../src/adapters/memoryNetwork.js';
import { fromHex } from '../src/crypto/bytes.js';
import { proveTopic, topicKey } from '../src/crypto/topicKey.js';
import { RelayMux, type RelayMuxOptions } from '../src/discover/relayMux.js';
import type { CloseInfo, MailboxSocket, SocketHandlers } from '../src/effects/socket.js';

const URL_ = 'ws://relay.test/backchannel/v2';

function setup(limits: Partial<DiscoveryLimits> = {}, options?: RelayMuxOptions) {
  const server = new DiscoveryServer({ randomBytes: (n) => new Uint8Array(randomBytes(n)), limits });
  const net = new MemoryNetwork(server);
  const mux = new RelayMux(net.connector, options);
  return { server, net, mux };
}

/** A socket above the mux, as a session or depot client holds it: frames read, closes seen. */
function client(mux: RelayMux, contactKey = new Uint8Array(randomBytes(32))) {
  const key = topicKey(contactKey);
  const frames: Record<string, unknown>[] = [];
  const waiters: { want: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  let closed: CloseInfo | undefined;
  let onLost: (info: CloseInfo) => void = () => {};
  const lost = new Promise<CloseInfo>((resolve) => (onLost = resolve));
  const c = {
    /** Resolves when the socket closes. */
    lost,
    topic: key.topic,
    frames,
    get closed() {
      return closed;
    },
    socket: undefined as unknown as MailboxSocket,
    tx: (frame: Record<string, unknown>) => c.socket.send(JSON.stringify(frame)),
    /** The first frame (already read or still to come) that `want` takes. */
    next(want: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
      const seen = frames.find(want);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ want, resolve }));
    },
    prove: (challenge: string) => c.tx({ type: 'prove', ...proveTopic(key, fromHex(challenge)) }),
  };
  c.socket = mux.connector(URL_, {
    onOpen: () => {},
    onMessage: (text) => {
      const m = JSON.parse(text) as Record<string, unknown>;
      frames.push(m);
      for (const w of waiters.splice(0)) w.want(m) ? w.resolve(m) : waiters.push(w);
    },
    onClose: (info) => {
      closed = info;
      onLost(info);
    },
  });
  return c;
}

type Client = ReturnType<typeof client>;
const challengeOf = async (c: Client) => (await c.next((m) => m.type === 'challenge')).challenge as string;
const sentOfType = (net: MemoryNetwork, type: string) =>
  net.frames.filter((f) => f.direction === 'in' && (JSON.parse(f.text) as { type: string }).type === type);

describe('RelayMux', () => {
  it('50 sockets share one connection: each gets the challenge, proves and announces; one socket at the relay', async () => {
    const { server, net, mux } = setup({}, {});
    const clients = Array.from({ length: 50 }, () => client(mux));
    for (const c of clients) {
      c.prove(await challengeOf(c));
      c.tx({ type: 'announce', topic: c.topic });
    }
    const announced = await Promise.all(clients.map((c) => c.next((m) => m.type === 'announced')));
    expect(announced.map((m) => m.topic)).toEqual(clients.map((c) => c.topic));
    expect(server.connectionCount).toBe(1);
    expect(mux.connections).toBe(1);
    expect(net.openLinks).toBe(1);
    // Nothing of another topic reached any of them.
    for (const c of clients) expect(c.frames.every((m) => m.topic === undefined || m.topic === c.topic)).toBe(true);
    expect(server.refusals.size).toBe(0);
    // A socket that joins later gets the same connection's challenge.
    const late = client(mux);
    expect(await challengeOf(late)).toBe(await challengeOf(clients[0]!));
    expect(server.connectionCount).toBe(1);
  });

  it('the session and the depot client of one contact: one proof, each its own replies, each its own refusals', async () => {
    const { net, mux } = setup();
    const contactKey = new Uint8Array(randomBytes(32));
    const session = client(mux, contactKey);
    const depot = client(mux, contactKey);
    session.prove(await challengeOf(session));
    depot.prove(await challengeOf(depot));
    session.tx({ type: 'announce', topic: session.topic });
    depot.tx({ type: 'fetch', topic: depot.topic });
    await session.next((m) => m.type === 'announced');
    await depot.next((m) => m.type === 'error' && m.re === 'fetch'); // this relay keeps no depot
    expect(sentOfType(net, 'prove')).toHaveLength(1);
    // The session sends to nobody: its refusal comes back to it alone.
    session.tx({ type: 'send', topic: session.topic, to: '0123456789abcdef', kind: 'signal', blob: 'AAAA' });
    const refused = await session.next((m) => m.type === 'error' && m.re === 'send');
    expect(refused.reason).toBe('no such peer on this topic');
    expect(depot.frames.some((m) => m.type === 'announced' || m.re === 'send')).toBe(false);
    expect(session.frames.some((m) => m.re === 'fetch')).toBe(false);
  });

  it('a closed socket leaves what it announced (the others hear `left`); the last one closes the connection', async () => {
    const { server, net, mux } = setup();
    const contactKey = new Uint8Array(randomBytes(32));
    const mine = client(mux, contactKey);
    const other = client(mux); // keeps the connection open
    // The contact's device, on its own connection.
    const theirMux = new RelayMux(net.connector);
    const theirs = client(theirMux, contactKey);
    for (const c of [mine, theirs]) {
      c.prove(await challengeOf(c));
      c.tx({ type: 'announce', topic: c.topic });
      await c.next((m) => m.type === 'announced');
    }
    await challengeOf(other);
    mine.socket.close();
    const left = await theirs.next((m) => m.type === 'left');
    expect(left.topic).toBe(theirs.topic);
    expect(server.connectionCount).toBe(2);
    other.socket.close();
    expect(mux.connections).toBe(0);
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    expect(net.openLinks).toBe(1);
  });

  it('pipelined frames go in windows closed by ping: 400 announces within a relay bound of 16 frames in flight', async () => {
    const { server, mux } = setup({ maxQueuedFrames: 16 }, { windowFrames: 8 });
    const clients = Array.from({ length: 200 }, () => client(mux));
    const challenge = await challengeOf(clients[0]!);
    for (const c of clients) {
      c.prove(challenge);
      c.tx({ type: 'announce', topic: c.topic });
    }
    await Promise.all(clients.map((c) => c.next((m) => m.type === 'announced')));
    expect(clients.every((c) => c.closed === undefined)).toBe(true);
    expect(server.connectionCount).toBe(1);
  });

  it('without windows the same burst is closed by the relay (1008): the bound is real', async () => {
    const { mux } = setup({ maxQueuedFrames: 16 }, { windowFrames: 100_000 });
    const clients = Array.from({ length: 200 }, () => client(mux));
    const challenge = await challengeOf(clients[0]!);
    for (const c of clients) {
      c.prove(challenge);
      c.tx({ type: 'announce', topic: c.topic });
    }
    await Promise.all(clients.map((c) => c.lost));
    expect(clients.every((c) => c.closed !== undefined)).toBe(true);
  });

  it('a lost connection closes every socket on it; the next socket dials a new one, with a new challenge', async () => {
    const { server, net, mux } = setup();
    const a = client(mux);
    const b = client(mux);
    const first = await challengeOf(a);
    await challengeOf(b);
    net.dropAll();
    await Promise.all([a.lost, b.lost]);
    expect(mux.connections).toBe(0);
    const again = client(mux);
    const second = await challengeOf(again);
    expect(second).not.toBe(first);
    again.prove(second);
    again.tx({ type: 'announce', topic: again.topic });
    await again.next((m) => m.type === 'announced');
    expect(server.connectionCount).toBe(1);
  });

  it('the relay bounds proven topics over all connections (maxProvenTopics); a closed connection gives its share back', async () => {
    const { server, net } = setup({ maxProvenTopics: 3 });
    const proveOn = async (mux: RelayMux) => {
      const c = client(mux);
      c.prove(await challengeOf(c));
      return c.next((m) => m.type === 'proven' || (m.type === 'error' && m.re === 'prove'));
    };
    const first = new RelayMux(net.connector);
    const second = new RelayMux(net.connector);
    const answers = [await proveOn(first), await proveOn(first), await proveOn(second), await proveOn(second)];
    expect(answers.map((m) => m.type)).toEqual(['proven', 'proven', 'proven', 'error']);
    // Not `unproven`: the device is not told its key is wrong, only to come back later.
    expect(answers[3]).toMatchObject({ reason: 'too many topics on this relay now: try again later' });
    expect(answers[3]!.code).toBeUndefined();
    // The first connection closes: its two topics no longer count.
    const gone = client(first);
    await challengeOf(gone);
    net.dropOne(0);
    await gone.lost;
    expect(server.connectionCount).toBe(1);
    expect((await proveOn(second)).type).toBe('proven');
  });

  it('a proof the relay refused is sent again on the same connection, not taken as proven', async () => {
    const { server, net } = setup({ maxProvenTopics: 1 });
    const holder = new RelayMux(net.connector);
    const first = client(holder);
    first.prove(await challengeOf(first));
    await first.next((m) => m.type === 'proven');
    const mux = new RelayMux(net.connector);
    const c = client(mux);
    const challenge = await challengeOf(c);
    c.prove(challenge);
    expect(await c.next((m) => m.type === 'error' && m.re === 'prove')).toMatchObject({ reason: 'too many topics on this relay now: try again later' });
    // Room again: the holder's connection goes. The same socket proves again and it goes out.
    const gone = first.lost;
    net.dropOne(0);
    await gone;
    expect(server.connectionCount).toBe(1);
    c.prove(challenge);
    expect((await c.next((m) => m.type === 'proven')).topic).toBe(c.topic);
  });

  it('a refused proof the sockets on a topic shared is told to every one of them (they prove again), not only its sender', async () => {
    const { net } = setup({ maxProvenTopics: 1 });
    const holder = client(new RelayMux(net.connector));
    holder.prove(await challengeOf(holder));
    await holder.next((m) => m.type === 'proven');
    const mux = new RelayMux(net.connector);
    const contactKey = new Uint8Array(randomBytes(32));
    const session = client(mux, contactKey);
    const depot = client(mux, contactKey);
    const challenge = await challengeOf(session);
    await challengeOf(depot);
    session.prove(challenge);
    depot.prove(challenge); // shared: held back, the session's proof serves both
    await session.next((m) => m.type === 'error' && m.re === 'prove');
    await depot.next(() => depot.frames.filter((m) => m.type === 'challenge').length === 2);
    expect(depot.frames.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('a connector that reports the close inside its own call: the socket closes, and the next one dials again', async () => {
    let dials = 0;
    const mux = new RelayMux((_url, handlers) => {
      dials++;
      handlers.onClose({ code: 1006, reason: 'refused at once' });
      return { send: () => {}, close: () => {} };
    });
    const closed = (n: number) =>
      new Promise<CloseInfo>((resolve) => mux.connector(URL_, { onOpen: () => {}, onMessage: () => {}, onClose: (info) => resolve({ ...info, code: n }) }));
    expect((await closed(1)).reason).toBe('refused at once');
    await closed(2);
    expect(dials).toBe(2);
    expect(mux.connections).toBe(0);
  });

  it('a relay that stops answering (no pong for pongTimeoutMs) is dropped: every socket on it closes, the next dials anew', async () => {
    const server = new DiscoveryServer({ randomBytes: (n) => new Uint8Array(randomBytes(n)) });
    const net = new MemoryNetwork(server);
    let stalled = true;
    let dials = 0;
    // The relay takes frames but its pongs never come back (a socket open, a relay stuck).
    const connector: typeof net.connector = (url, handlers) => {
      dials++;
      return net.connector(url, { ...handlers, onMessage: (text) => (stalled && text.includes('"pong"') ? undefined : handlers.onMessage(text)) });
    };
    const clock = new SimulatedClock();
    const mux = new RelayMux(connector, { windowFrames: 2, pongTimeoutMs: 30_000, clock });
    const a = client(mux);
    const b = client(mux);
    a.prove(await challengeOf(a));
    await challengeOf(b);
    b.prove((b.frames.find((m) => m.type === 'challenge') as { challenge: string }).challenge);
    a.tx({ type: 'announce', topic: a.topic }); // the third frame: the window of two waits for its pong
    await a.next((m) => m.type === 'proven');
    clock.increment(29_999);
    expect(a.closed).toBeUndefined();
    clock.increment(1);
    const [lostA, lostB] = await Promise.all([a.lost, b.lost]);
    expect(lostA.reason).toBe('the relay did not answer for 30000 ms');
    expect(lostB.reason).toBe(lostA.reason);
    expect(mux.connections).toBe(0);
    stalled = false;
    const again = client(mux);
    await challengeOf(again);
    expect(dials).toBe(2);
  });

  it('routes by the frame’s start: what a socket sends and what it receives pass through unparsed (other frames still route)', () => {
    let relay!: SocketHandlers;
    const sent: string[] = [];
    const mux = new RelayMux((_url, handlers) => ((relay = handlers), { send: (text) => sent.push(text), close: () => {} }));
    const got: string[] = [];
    const socket = mux.connector(URL_, { onOpen: () => {}, onMessage: (text) => got.push(text), onClose: () => {} });
    relay.onOpen();
    const topic = 'ab'.repeat(32);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      socket.send(JSON.stringify({ type: 'announce', topic }));
      socket.send(JSON.stringify({ type: 'fetch', topic }));
      relay.onMessage(JSON.stringify({ type: 'announced', topic, peer: 'p', peers: [] }));
      relay.onMessage(JSON.stringify({ type: 'deposits', topic, items: [] }));
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    // Keys in another order: parsed, and routed alike.
    socket.send(JSON.stringify({ topic, type: 'leave' }));
    relay.onMessage(JSON.stringify({ topic, type: 'left', peer: 'p' }));
    expect(sent.map((t) => JSON.parse(t) as unknown)).toEqual([
      { type: 'announce', topic, id: '0.0' },
      { type: 'fetch', topic, id: '0.1' },
      { type: 'leave', topic, id: '0.2' },
    ]);
    expect(got.map((t) => (JSON.parse(t) as { type: string }).type)).toEqual(['announced', 'deposits', 'left']);
  });
});
