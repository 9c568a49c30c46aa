/**
 * The Transport suite against the PeerJS adapter, in Node: the real `peerjs` client on @roamhq/wrtc,
 * a real PeerServer (the `peer` package) on the namespace's first veth address, two devices racing for
 * the rendezvous id as they do in a browser. Only runs inside the namespace transport-peerjs.test.ts creates.
 *
 * The man in the middle sits at the PeerJS API: device a's data connection is wrapped, so a tampered or
 * replayed frame really crosses the data channel and meets the adapter's seal on the other side.
 * Beyond the suite: after a close, the same contact connects again (the PeerServer let go of the id).
 */
import type { Server } from 'node:http';
import wrtc from '@roamhq/wrtc';
import { PeerServer } from 'peer';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  connectWithPeerJs,
  peerJsHelloProof,
  peerJsRendezvousId,
  type PeerJsConstructor,
  type PeerJsDataConnection,
  type PeerJsPeer,
} from '../../src/adapters/peerjsTransport.js';
import { fromBase64, toBase64 } from '../../src/crypto/bytes.js';
import { cryptoRandomBytes } from '../../src/effects/random.js';
import { runTransportTests, type TransportPair } from '../helpers/transportConformance.js';

const host = process.env.BACKCHANNEL_NETNS_ADDRESS;
if (!process.env.BACKCHANNEL_NETNS || !host) throw new Error('run through test/transport-peerjs.test.ts: WebRTC tests must stay inside a network namespace');

// PeerJS looks for the browser's WebRTC and WebSocket when it loads: give it Node's, then load it.
Object.assign(globalThis, {
  RTCPeerConnection: wrtc.RTCPeerConnection,
  RTCSessionDescription: wrtc.RTCSessionDescription,
  RTCIceCandidate: wrtc.RTCIceCandidate,
  WebSocket,
});
const { Peer } = (await import('peerjs')) as unknown as { Peer: PeerJsConstructor };

let peerServer!: ReturnType<typeof PeerServer>;
const server = await new Promise<Server>((resolve) => {
  peerServer = PeerServer({ host, port: 0, path: '/peerjs' }, (s) => resolve(s as Server));
});
/** Resolves once the PeerServer has let the peer registered under `id` go. */
const released = (id: string) => new Promise<void>((resolve) => peerServer.on('disconnect', (client) => client.getId() === id && resolve()));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
const port = (server.address() as { port: number }).port;
const peerOptions = { host, port, path: '/peerjs', secure: false, config: { iceServers: [] }, debug: 0 };

/** Device a's side of the wire: what it sends can be flipped or sent once more. */
class Tap {
  conn: PeerJsDataConnection | undefined;
  last: unknown;
  tamper = false;

  wrap(conn: PeerJsDataConnection): PeerJsDataConnection {
    this.conn = conn;
    return {
      get open() {
        return conn.open;
      },
      send: (data: unknown) => {
        if (this.tamper && typeof data === 'string') {
          this.tamper = false;
          const bytes = fromBase64(data);
          bytes[bytes.length - 1]! ^= 1;
          data = toBase64(bytes);
        }
        this.last = data;
        conn.send(data);
      },
      close: () => conn.close(),
      on: (event: string, fn: (arg?: unknown) => void) => conn.on(event as 'open', fn),
    };
  }
}

/** PeerJS's Peer, with every data connection it makes or accepts going through the tap. */
function tapped(tap: Tap): PeerJsConstructor {
  return class implements PeerJsPeer {
    readonly #peer: PeerJsPeer;
    constructor(id?: string, options?: Record<string, unknown>) {
      this.#peer = new Peer(id, options);
    }
    on(event: string, fn: (arg: never) => void): void {
      if (event === 'connection') this.#peer.on('connection', (conn) => (fn as (c: PeerJsDataConnection) => void)(tap.wrap(conn)));
      else this.#peer.on(event as 'open', fn as (id: string) => void);
    }
    connect(id: string, options?: Record<string, unknown>): PeerJsDataConnection {
      return tap.wrap(this.#peer.connect(id, options));
    }
    destroy(): void {
      this.#peer.destroy();
    }
  } as PeerJsConstructor;
}

async function connectedPair(): Promise<TransportPair> {
  const contactKey = cryptoRandomBytes(32);
  const tap = new Tap();
  // Both at once: the PeerServer gives the rendezvous id to one, the other calls it.
  const [a, b] = await Promise.all([
    connectWithPeerJs({ Peer: tapped(tap), peerOptions, contactKey, randomBytes: cryptoRandomBytes }),
    connectWithPeerJs({ Peer, peerOptions, contactKey, randomBytes: cryptoRandomBytes }),
  ]);
  return {
    a,
    b,
    wire: {
      tamperNext: () => void (tap.tamper = true),
      replayLast: () => tap.conn!.send(tap.last),
    },
    dispose: () => {
      a.peer.destroy();
      b.peer.destroy();
    },
  };
}

runTransportTests('PeerJS (peerjs on @roamhq/wrtc, a real PeerServer)', connectedPair, {
  // The adapter seals frames like the relayed transport: 48 data frames of 64 KiB unacknowledged.
  maxBytesInFlight: 48 * 64 * 1024,
});

describe('PeerJS: a contact connects again after a close', () => {
  it('two new sessions on the same key reach each other, not the closed one', async () => {
    const contactKey = cryptoRandomBytes(32);
    const device = () => connectWithPeerJs({ Peer, peerOptions, contactKey, randomBytes: cryptoRandomBytes });
    const [a, b] = await Promise.all([device(), device()]);
    // Nobody destroys a peer here: closing the transport must let go of the rendezvous id, or the
    // contact's next attempts call the dead session (they did, before the adapter destroyed its peer).
    const idFree = released(peerJsRendezvousId(contactKey));
    const bClosed = new Promise((resolve) => b.on('close', resolve));
    a.close('done for now');
    await Promise.all([bClosed, idFree]);
    const [c, d] = await Promise.all([device(), device()]);
    try {
      const got = new Promise<Uint8Array>((resolve) => d.on('message', resolve));
      await c.send(new Uint8Array([42]));
      expect([...(await got)]).toEqual([42]);
    } finally {
      c.close();
      d.close();
      for (const t of [a, b, c, d]) t.peer.destroy();
    }
  });
});

describe('PeerJS: a caller without the key', () => {
  it('is hung up on, and the device holding the rendezvous id waits on for its contact', async () => {
    const contactKey = cryptoRandomBytes(32);
    const id = peerJsRendezvousId(contactKey);
    const registered = new Promise<void>((resolve) => peerServer.on('connection', (client) => client.getId() === id && resolve()));
    const device = () => connectWithPeerJs({ Peer, peerOptions, contactKey, randomBytes: cryptoRandomBytes });
    const a = device();
    await registered;
    // It knows the rendezvous id (the PeerServer's operator does) and sends a well-formed hello
    // whose proof is made with another key.
    const impostor = new Peer(undefined, peerOptions);
    const hungUp = new Promise<void>((resolve) =>
      impostor.on('open', () => {
        const conn = impostor.connect(id, { reliable: true, serialization: 'raw' });
        const sid = '0123456789abcdef';
        conn.on('open', () => conn.send(JSON.stringify({ hello: sid, proof: peerJsHelloProof(cryptoRandomBytes(32), sid) })));
        conn.on('close', () => resolve());
      }),
    );
    await hungUp;
    const b = await device();
    const aTransport = await a;
    try {
      const got = new Promise<Uint8Array>((resolve) => aTransport.on('message', resolve));
      await b.send(new Uint8Array([7]));
      expect([...(await got)]).toEqual([7]);
    } finally {
      aTransport.close();
      b.close();
      impostor.destroy();
    }
  });
});

describe('PeerJS: a call that never opens', () => {
  it('is hung up on after attemptMs and called again, and the devices connect', async () => {
    const contactKey = cryptoRandomBytes(32);
    const id = peerJsRendezvousId(contactKey);
    const registered = new Promise<void>((resolve) => peerServer.on('connection', (client) => client.getId() === id && resolve()));
    const holder = connectWithPeerJs({ Peer, peerOptions, contactKey, randomBytes: cryptoRandomBytes });
    await registered;
    // The caller's first data connection is silent (as when ICE fails without a word): it never opens.
    let calls = 0;
    let silentClosed = false;
    const Silent = class implements PeerJsPeer {
      readonly #peer: PeerJsPeer;
      constructor(peerId?: string, options?: Record<string, unknown>) {
        this.#peer = new Peer(peerId, options);
      }
      on(event: string, fn: (arg: never) => void): void {
        this.#peer.on(event as 'open', fn as (id: string) => void);
      }
      connect(to: string, options?: Record<string, unknown>): PeerJsDataConnection {
        calls += 1;
        if (calls > 1) return this.#peer.connect(to, options);
        return { open: false, send: () => undefined, close: () => void (silentClosed = true), on: () => undefined };
      }
      destroy(): void {
        this.#peer.destroy();
      }
    } as PeerJsConstructor;
    const caller = await connectWithPeerJs({ Peer: Silent, peerOptions, contactKey, randomBytes: cryptoRandomBytes, attemptMs: 300 });
    const held = await holder;
    try {
      expect(calls).toBe(2);
      expect(silentClosed).toBe(true);
      const got = new Promise<Uint8Array>((resolve) => held.on('message', resolve));
      await caller.send(new Uint8Array([9]));
      expect([...(await got)]).toEqual([9]);
    } finally {
      caller.close();
      held.close();
    }
  });
});
