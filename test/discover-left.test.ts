/**
 * A direct channel ends when the other device leaves the relay: a device that crashed (its relay
 * connection gone, nothing said on the data channel) is noticed at the relay's `left`, not only when
 * WebRTC's consent checks give up half a minute later. Real WebRTC (@roamhq/wrtc) on this host; the
 * crash is simulated by closing the other device's relay socket behind its back, its peer connection
 * left open (the hardest case: nothing on the channel says it is gone).
 */
import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { openWebRtcTransport } from '../src/adapters/webrtcTransport.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { MailboxSocket, SocketConnector } from '../src/effects/socket.js';
import { discoverMachine } from '../src/machines/discoverMachine.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay({});
});
afterAll(() => relay.close());

/** A connector whose sockets can be cut with the device left unaware (its handlers hear nothing more). */
function crashable(): { connector: SocketConnector; crash(): void } {
  const real = nodeSocketConnector();
  const sockets: { socket: MailboxSocket; muted: { value: boolean } }[] = [];
  return {
    connector: (url, handlers) => {
      const muted = { value: false };
      const socket = real(url, {
        onOpen: () => !muted.value && handlers.onOpen(),
        onMessage: (text) => !muted.value && handlers.onMessage(text),
        onClose: (info) => !muted.value && handlers.onClose(info),
      });
      sockets.push({ socket, muted });
      return socket;
    },
    crash: () => {
      for (const s of sockets) ((s.muted.value = true), s.socket.close());
    },
  };
}

describe('DISCOVER, direct channel', () => {
  it('ends when the other device leaves the relay (crashed), and A looks for it again', { timeout: 120_000 }, async () => {
    const key = cryptoRandomBytes(32);
    const rtc = { RTCPeerConnection: wrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection };
    const start = (connector: SocketConnector) => {
      const actor = createActor(discoverMachine, {
        input: {
          contactKey: key,
          url: relay.discoveryUrl,
          connector,
          randomBytes: cryptoRandomBytes,
          rtc,
          openDirectTransport: openWebRtcTransport,
          relayed: false,
        },
      });
      const connected = new Promise<{ via: string }>((resolve) => actor.on('connected', resolve));
      actor.start();
      return { actor, connected };
    };
    const a = start(nodeSocketConnector());
    const bSockets = crashable();
    const b = start(bSockets.connector);
    try {
      const [ca, cb] = await Promise.all([a.connected, b.connected]);
      expect([ca.via, cb.via]).toEqual(['direct', 'direct']);
      const disconnected = new Promise<{ reason: string }>((resolve) => a.actor.on('disconnected', resolve));
      bSockets.crash();
      await disconnected;
      await waitFor(a.actor, (s) => !s.matches({ session: 'connected' }), { timeout: 60_000 });
    } finally {
      a.actor.send({ type: 'STOP' });
      b.actor.send({ type: 'STOP' });
    }
  });
});
