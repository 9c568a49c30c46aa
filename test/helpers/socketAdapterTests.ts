/**
 * The conformance suite every {@link SocketConnector} adapter runs (automerge-repo style): given a way
 * to make a connector and a relay URL, pair two wormholes through it, survive the server hanging up,
 * and report a connection that cannot be made.
 */
import { describe, expect, it } from 'vitest';
import type { SocketConnector } from '../../src/effects/socket.js';
import { toHex } from '../../src/crypto/bytes.js';
import { Wormhole } from '../../src/wormhole/wormhole.js';

export interface SocketAdapterSetup {
  connector: SocketConnector;
  url: string;
  /** A URL nothing answers on. */
  deadUrl: string;
  teardown(): Promise<void>;
}

export function runSocketAdapterTests(title: string, setup: () => Promise<SocketAdapterSetup>): void {
  describe(`SocketConnector conformance: ${title}`, () => {
    it('carries a whole pairing', async () => {
      const s = await setup();
      try {
        const a = new Wormhole({ relay: s.url, appid: 'conformance', connector: s.connector });
        const b = new Wormhole({ relay: s.url, appid: 'conformance', connector: s.connector, code: await a.code });
        const [va, vb] = await Promise.all([a.verified, b.verified]);
        expect(toHex(va.key)).toBe(toHex(vb.key));
        b.send({ ok: true });
        expect(await a.nextJson()).toEqual({ ok: true });
        await Promise.all([a.close(), b.close()]);
      } finally {
        await s.teardown();
      }
    });

    it('reports open, frames and close in order, and close() is quiet', async () => {
      const s = await setup();
      try {
        const events: string[] = [];
        await new Promise<void>((resolve) => {
          const socket = s.connector(s.url, {
            onOpen: () => {
              events.push('open');
              socket.send(JSON.stringify({ type: 'ping', ping: 3 }));
            },
            onMessage: (text) => {
              const type = (JSON.parse(text) as { type: string }).type;
              events.push(type);
              if (type === 'pong') {
                socket.close();
                setTimeout(resolve, 50);
              }
            },
            onClose: () => events.push('close'),
          });
        });
        expect(events).toEqual(['open', 'welcome', 'ack', 'pong']);
      } finally {
        await s.teardown();
      }
    });

    it('reports a connection that cannot be made through onClose, without throwing', async () => {
      const s = await setup();
      try {
        const info = await new Promise<{ code?: number; reason?: string }>((resolve) => {
          s.connector(s.deadUrl, { onOpen: () => resolve({ reason: 'opened?!' }), onMessage: () => {}, onClose: resolve });
        });
        expect(info.reason).not.toBe('opened?!');
      } finally {
        await s.teardown();
      }
    });
  });
}
