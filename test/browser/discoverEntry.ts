/** Bundled for Chromium: one device of a contact, discovering with the browser's own WebRTC. */
import { createActor } from 'xstate';
import { browserSocketConnector } from '../../src/adapters/browserSocket.js';
import { openWebRtcTransport } from '../../src/adapters/webrtcTransport.js';
import { fromHex } from '../../src/crypto/bytes.js';
import { cryptoRandomBytes } from '../../src/effects/random.js';
import { discoverMachine } from '../../src/machines/discoverMachine.js';

declare global {
  interface Window {
    runDiscover(url: string, keyHex: string): Promise<{ via: string; got: string }>;
  }
}

/** Connect, answer the first message with "echo: <it>", and report how we connected. */
window.runDiscover = (url, keyHex) =>
  new Promise((resolve, reject) => {
    const actor = createActor(discoverMachine, {
      input: {
        contactKey: fromHex(keyHex),
        url,
        connector: browserSocketConnector(),
        randomBytes: cryptoRandomBytes,
        rtc: { RTCPeerConnection: window.RTCPeerConnection, config: { iceServers: [] } },
        openDirectTransport: openWebRtcTransport,
        timeouts: { directMs: 20_000 },
        relayed: false,
      },
    });
    actor.on('connected', ({ channel, via }) => {
      channel.on('message', (frame) => {
        const got = new TextDecoder().decode(frame);
        channel.send(new TextEncoder().encode(`echo: ${got}`)).then(() => resolve({ via, got }), reject);
      });
    });
    actor.start();
    setTimeout(() => reject(new Error(`not connected: ${JSON.stringify(actor.getSnapshot().value)}`)), 30_000);
  });
