/**
 * Optional adapter for hosts that already run a PeerServer: connect two devices of a contact with
 * PeerJS instead of Backchannel's own DISCOVER. Weaker threat model, so never the default: the
 * PeerServer sees both devices' SDP (their IP addresses) and a rendezvous id derived from the key.
 *
 * What it still guarantees: the rendezvous id is a hash of the contact key, not the key; and every
 * frame is sealed end to end exactly like the relayed transport (per-direction keys bound to both
 * session ids, sequence numbers), so whoever answers on the rendezvous id without the key gets
 * nothing readable and cannot inject a frame.
 *
 * The PeerJS `Peer` class is injected (`import { Peer } from 'peerjs'`), so this module has no hard
 * dependency on it.
 * @module
 */
import { fromUtf8, toHex } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import type { Transport } from '../effects/transport.js';
import type { RandomBytes } from '../effects/random.js';
import { ProtocolError, TimeoutError } from '../errors.js';
import { RelayedTransport } from '../discover/relayedTransport.js';

/** The slice of PeerJS this adapter uses. */
export interface PeerJsDataConnection {
  open: boolean;
  send(data: unknown): void;
  close(): void;
  on(event: 'open' | 'close' | 'error', fn: (arg?: unknown) => void): void;
  on(event: 'data', fn: (data: unknown) => void): void;
}
/** The part of a PeerJS `Peer` the rendezvous uses. */
export interface PeerJsPeer {
  on(event: 'open', fn: (id: string) => void): void;
  on(event: 'connection', fn: (conn: PeerJsDataConnection) => void): void;
  on(event: 'error', fn: (err: { type?: string; message?: string }) => void): void;
  connect(id: string, options?: Record<string, unknown>): PeerJsDataConnection;
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
  timeoutMs?: number;
}

/** The id both devices try to register; whoever gets it waits, the other connects to it. */
export function peerJsRendezvousId(contactKey: Uint8Array): string {
  return `bc-${toHex(deriveKey(contactKey, 'backchannel:peerjs-id:v1', 16))}`;
}

/** Connect to the contact's other device through a PeerServer; resolves with a sealed Transport. */
export function connectWithPeerJs(options: PeerJsOptions): Promise<Transport & { peer: PeerJsPeer }> {
  const id = peerJsRendezvousId(options.contactKey);
  const sid = toHex(options.randomBytes(8));
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let peer: PeerJsPeer;
    const timer = setTimeout(() => {
      peer?.destroy();
      reject(new TimeoutError('The other device did not show up on the PeerServer.', { phase: 'peerjs', ms: timeoutMs }));
    }, timeoutMs);

    const adopt = (conn: PeerJsDataConnection) => {
      let transport: RelayedTransport | undefined;
      conn.on('open', () => conn.send(JSON.stringify({ hello: sid })));
      conn.on('data', (data) => {
        const text = typeof data === 'string' ? data : fromUtf8(new Uint8Array(data as ArrayBuffer));
        if (!transport) {
          let theirs: unknown;
          try {
            theirs = (JSON.parse(text) as { hello?: unknown }).hello;
          } catch {
            theirs = undefined;
          }
          if (typeof theirs !== 'string' || !/^[0-9a-f]{16}$/.test(theirs) || theirs === sid) {
            conn.close();
            return reject(new ProtocolError('The PeerJS peer did not start with a valid hello.'));
          }
          transport = new RelayedTransport({
            contactKey: options.contactKey,
            ownSid: sid,
            peerSid: theirs,
            randomBytes: options.randomBytes,
            transmit: (blob) => conn.send(blob),
            onClose: () => conn.close(),
          });
          conn.on('close', () => transport?.shut('PeerJS connection closed'));
          clearTimeout(timer);
          return resolve(Object.assign(transport, { peer }));
        }
        try {
          transport.receive(text);
        } catch {
          // Forged or replayed: dropped (RelayedTransport closes itself on a gap).
        }
      });
    };

    const asCaller = () => {
      peer = new options.Peer(undefined, options.peerOptions);
      peer.on('open', () => adopt(peer.connect(id, { reliable: true, serialization: 'raw' })));
      peer.on('error', (err) => reject(new ProtocolError(`PeerJS: ${err.type ?? ''} ${err.message ?? ''}`)));
    };

    peer = new options.Peer(id, options.peerOptions);
    peer.on('connection', (conn) => adopt(conn));
    peer.on('error', (err) => {
      if (err.type === 'unavailable-id') {
        peer.destroy(); // the other device holds the rendezvous id: call it
        asCaller();
      } else {
        clearTimeout(timer);
        reject(new ProtocolError(`PeerJS: ${err.type ?? ''} ${err.message ?? ''}`));
      }
    });
  });
}
