/**
 * Optional adapter for hosts that already run a PeerServer: connect two devices of a contact with
 * PeerJS instead of Backchannel's own DISCOVER. Weaker threat model, so never the default: the
 * PeerServer sees both devices' SDP (their IP addresses) and a rendezvous id derived from the key.
 *
 * What it still guarantees: the rendezvous id is a hash of the contact key, not the key; a hello
 * proves the key (a key derived for the sender's session id), so whoever calls the rendezvous id
 * without it is hung up on while the device waits on for its contact; and every frame is sealed end
 * to end exactly like the relayed transport (per-direction keys bound to both session ids, sequence
 * numbers), so nobody without the key reads or injects a frame.
 *
 * The PeerJS `Peer` class is injected (`import { Peer } from 'peerjs'`), so this module has no hard
 * dependency on it.
 * @module
 */
import { constantTimeEqual, fromHex, fromUtf8, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { systemClock, type Clock } from '../effects/clock.js';
import type { Transport } from '../effects/transport.js';
import type { RandomBytes } from '../effects/random.js';
import { ProtocolError, TimeoutError } from '../errors.js';
import { RelayedTransport } from '../discover/relayedTransport.js';

/** The slice of PeerJS this adapter uses. */
export interface PeerJsDataConnection {
  open: boolean;
  /** Send one message to the other peer. */
  send(data: unknown): void;
  /** Close the connection. */
  close(): void;
  /** Listen for the connection opening, closing or failing. */
  on(event: 'open' | 'close' | 'error', fn: (arg?: unknown) => void): void;
  /** Listen for each message from the other peer. */
  on(event: 'data', fn: (data: unknown) => void): void;
}
/** The part of a PeerJS `Peer` the rendezvous uses. */
export interface PeerJsPeer {
  /** Listen for the broker registering this peer under its id. */
  on(event: 'open', fn: (id: string) => void): void;
  /** Listen for connections other peers open to this one. */
  on(event: 'connection', fn: (conn: PeerJsDataConnection) => void): void;
  /** Listen for the peer failing (broker unreachable, unknown peer id…). */
  on(event: 'error', fn: (err: { type?: string; message?: string }) => void): void;
  /** Open a data connection to the peer registered under `id`. */
  connect(id: string, options?: Record<string, unknown>): PeerJsDataConnection;
  /** Leave the broker and close every connection of this peer. */
  destroy(): void;
}
/** PeerJS's `Peer` class, as `connectWithPeerJs` takes it. */
export type PeerJsConstructor = new (id?: string, options?: Record<string, unknown>) => PeerJsPeer;

/** What `connectWithPeerJs` takes: PeerJS, the contact key and a source of randomness. */
export interface PeerJsOptions {
  Peer: PeerJsConstructor;
  /** PeerJS options: host, port, path, secure, config (RTCConfiguration)… */
  peerOptions: Record<string, unknown>;
  contactKey: Uint8Array;
  randomBytes: RandomBytes;
  /** How long to wait for the other device in all (default 30 s). */
  timeoutMs?: number;
  /** How long one call may take to open and exchange hellos before the caller hangs up and calls again (default 8 s). */
  attemptMs?: number;
  /**
   * The timers of the wait, the calls and the transport's keepalive: the app's clock (a SimulatedClock
   * in tests), as DISCOVER hands its relayed transports theirs; default the system's.
   */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** The id both devices try to register; whoever gets it waits, the other connects to it. */
export function peerJsRendezvousId(contactKey: Uint8Array): string {
  return `bc-${toHex(deriveKey(contactKey, 'backchannel:peerjs-id:v1', 16))}`;
}

/** What a hello carries besides the session id: proof that its sender holds the contact key. */
export function peerJsHelloProof(contactKey: Uint8Array, sid: string): string {
  return toHex(deriveKey(contactKey, `backchannel:peerjs-hello:v1:${sid}`, 16));
}

/** The other device's session id, if `text` is a hello from a holder of the contact key (and not our own). */
function verifiedHello(text: string, contactKey: Uint8Array, ownSid: string): string | undefined {
  let hello: { hello?: unknown; proof?: unknown };
  try {
    hello = JSON.parse(text) as typeof hello;
  } catch {
    return undefined;
  }
  const { hello: sid, proof } = hello ?? {};
  if (typeof sid !== 'string' || !/^[0-9a-f]{16}$/.test(sid) || sid === ownSid) return undefined;
  if (typeof proof !== 'string' || !/^[0-9a-f]{32}$/.test(proof)) return undefined;
  return constantTimeEqual(fromHex(proof), fromHex(peerJsHelloProof(contactKey, sid))) ? sid : undefined;
}

/** Connect to the contact's other device through a PeerServer; resolves with a sealed Transport. */
export function connectWithPeerJs(options: PeerJsOptions): Promise<Transport & { peer: PeerJsPeer }> {
  const id = peerJsRendezvousId(options.contactKey);
  const sid = toHex(options.randomBytes(8));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const attemptMs = options.attemptMs ?? 8_000;
  const clock = options.clock ?? systemClock;
  return new Promise((resolve, reject) => {
    let peer: PeerJsPeer;
    let settled = false;
    let attemptTimer: unknown;
    const timer = clock.setTimeout(
      () => fail(new TimeoutError('The other device did not show up on the PeerServer.', { phase: 'peerjs', ms: timeoutMs })),
      timeoutMs,
    );

    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      clock.clearTimeout(attemptTimer);
      peer?.destroy();
      reject(error);
    };

    // `waiting`: we hold the rendezvous id, and a caller without the key is hung up on while we wait on.
    const adopt = (conn: PeerJsDataConnection, waiting: boolean) => {
      let transport: RelayedTransport | undefined;
      // A call whose WebRTC connection fails or closes before the hellos is called again: ICE can fail
      // silently under load, and PeerJS never retries on its own.
      let retried = false;
      const callAgain = () => {
        if (waiting || transport || settled || retried) return;
        retried = true;
        clock.clearTimeout(attemptTimer);
        conn.close();
        clock.setTimeout(() => !settled && adopt(peer.connect(id, { reliable: true, serialization: 'raw' }), false), 250);
      };
      if (!waiting) attemptTimer = clock.setTimeout(callAgain, attemptMs);
      // PeerJS drops what we send before our side's 'open' (it only emits an error), yet can hand us
      // the other side's hello before it (wrtc under load does): a transport made then lost its first
      // frame, and the peer closed at the gap. So what comes before our 'open' waits for it, and is
      // taken once our own hello has gone.
      let isOpen = false;
      const early: unknown[] = [];
      conn.on('open', () => {
        isOpen = true;
        conn.send(JSON.stringify({ hello: sid, proof: peerJsHelloProof(options.contactKey, sid) }));
        for (const data of early.splice(0)) take(data);
      });
      conn.on('close', callAgain);
      conn.on('error', callAgain);
      conn.on('data', (data) => {
        if (isOpen) return take(data);
        // An honest peer sends nothing but its hello until it has ours.
        if (early.push(data) > 1) conn.close();
      });
      // True while PeerJS holds our frame: it closes the connection when the data channel throws on send.
      let sending = false;
      const transmit = (blob: string) => {
        if (!conn.open) {
          // PeerJS would drop it with only an 'error' event: end the transport rather than leave a hole.
          queueMicrotask(() => transport?.shut('the PeerJS connection was not open for a frame'));
          return;
        }
        sending = true;
        try {
          conn.send(blob);
        } finally {
          sending = false;
        }
      };
      const take = (data: unknown) => {
        const text = typeof data === 'string' ? data : fromUtf8(new Uint8Array(data as ArrayBuffer));
        if (!transport) {
          if (settled) return conn.close();
          const theirs = verifiedHello(text, options.contactKey, sid);
          if (theirs === undefined) {
            conn.close();
            if (!waiting) fail(new ProtocolError('The PeerJS peer did not start with a valid hello.'));
            return;
          }
          transport = new RelayedTransport({
            contactKey: options.contactKey,
            ownSid: sid,
            peerSid: theirs,
            randomBytes: options.randomBytes,
            transmit,
            onClose: () => conn.close(),
            clock,
          });
          conn.on('close', () => transport?.shut(sending ? 'PeerJS closed the connection: its data channel refused a frame' : 'PeerJS connection closed'));
          // However it ended (either side, or a lost frame), let go of the PeerServer: a peer left
          // registered keeps the rendezvous id, and the contact's next attempts would call this dead one.
          transport.on('close', () => {
            conn.close();
            peer.destroy();
          });
          settled = true;
          clock.clearTimeout(timer);
          clock.clearTimeout(attemptTimer);
          return resolve(Object.assign(transport, { peer }));
        }
        try {
          transport.receive(text);
        } catch {
          // Forged or replayed: dropped (RelayedTransport closes itself on a gap).
        }
      };
    };

    const asCaller = () => {
      peer = new options.Peer(undefined, options.peerOptions);
      peer.on('open', () => adopt(peer.connect(id, { reliable: true, serialization: 'raw' }), false));
      peer.on('error', (err) => fail(new ProtocolError(`PeerJS: ${err.type ?? ''} ${err.message ?? ''}`)));
    };

    peer = new options.Peer(id, options.peerOptions);
    peer.on('connection', (conn) => adopt(conn, true));
    peer.on('error', (err) => {
      if (err.type === 'unavailable-id') {
        peer.destroy(); // the other device holds the rendezvous id: call it
        asCaller();
      } else {
        fail(new ProtocolError(`PeerJS: ${err.type ?? ''} ${err.message ?? ''}`));
      }
    });
  });
}
