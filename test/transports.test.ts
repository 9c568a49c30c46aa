/**
 * The Transport suite against the implementations that run in this process: the memory link, the
 * relayed transport on a wire the test controls (so it can tamper and replay), and the relayed transport
 * through a real relay process's DISCOVER routing. WebRTC runs the same suite inside a network
 * namespace (transport-webrtc.test.ts).
 */
import { afterAll, beforeAll } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { connectToContact } from '../src/discover/connect.js';
import { RelayedTransport } from '../src/discover/relayedTransport.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { fromBase64, toBase64 } from '../src/crypto/bytes.js';
import { runTransportTests, type TransportPair } from './helpers/transportConformance.js';

/**
 * A memory link whose frames cross one per event-loop turn: slower than a sender that only waits on
 * promises, so the sender runs into the high-water mark and must wait.
 */
function laggingLink(): TransportPair {
  const link = new MemoryLink({ mode: 'manual', highWaterMark: 16 });
  let running = true;
  const pump = () => {
    if (!running) return;
    link.deliver();
    setImmediate(pump);
  };
  pump();
  return { a: link.a, b: link.b, dispose: () => void (running = false) };
}

runTransportTests('memory link', async () => laggingLink(), {
  // 16 frames of at most 64 KiB queued towards the receiver, plus the one being handed over.
  maxBytesInFlight: 17 * 64 * 1024,
  noWire: 'frames never leave the process, there is no one in the middle',
});

/** Two relayed transports joined by a wire that delivers a frame per event-loop turn, as a relay would. */
function relayedPair(): TransportPair {
  const contactKey = cryptoRandomBytes(32);
  const [sa, sb] = ['a'.repeat(16), 'b'.repeat(16)];
  let tamper = false;
  let last: string | undefined;
  const deliver = (to: () => RelayedTransport, blob: string) =>
    setImmediate(() => {
      try {
        to().receive(blob);
      } catch {
        // Rejected frames are dropped, as the DISCOVER session drops them.
      }
    });
  const a: RelayedTransport = new RelayedTransport({
    contactKey,
    ownSid: sa,
    peerSid: sb,
    randomBytes: cryptoRandomBytes,
    transmit: (blob) => {
      if (tamper) {
        tamper = false;
        const bytes = fromBase64(blob);
        bytes[bytes.length - 1]! ^= 1;
        blob = toBase64(bytes);
      }
      last = blob;
      deliver(() => b, blob);
    },
    onClose: (reason) => queueMicrotask(() => b.shut(`peer closed: ${reason}`)),
  });
  const b: RelayedTransport = new RelayedTransport({
    contactKey,
    ownSid: sb,
    peerSid: sa,
    randomBytes: cryptoRandomBytes,
    transmit: (blob) => deliver(() => a, blob),
    onClose: (reason) => queueMicrotask(() => a.shut(`peer closed: ${reason}`)),
  });
  return {
    a,
    b,
    wire: {
      tamperNext: () => (tamper = true),
      replayLast: () => deliver(() => b, last!),
    },
  };
}

runTransportTests('relayed (sealed frames on a test wire)', async () => relayedPair(), {
  // The default window: 48 data frames of 64 KiB unacknowledged.
  maxBytesInFlight: 48 * 64 * 1024,
});

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
});

runTransportTests(
  'relayed through a real relay',
  async () => {
    const contactKey = cryptoRandomBytes(32);
    const device = () =>
      connectToContact({ contactKey, url: relay.discoveryUrl, connector: nodeSocketConnector(), randomBytes: cryptoRandomBytes, relayed: true });
    const [ca, cb] = await Promise.all([device(), device()]);
    return {
      a: ca.channel,
      b: cb.channel,
      dispose: () => {
        ca.stop();
        cb.stop();
      },
    };
  },
  {
    maxBytesInFlight: 48 * 64 * 1024,
    noWire: 'the relay is honest here; a hostile one is in discover-relayed.test.ts, sealed frames on the test wire above',
  },
);
