/**
 * A hostile contact on DISCOVER's topic: it holds the contact key, so its sealed hellos open, and from
 * one relay connection (one relay peer id) it claims one new device session after another. The relay
 * gives a connection one peer id per topic and caps the peers on a topic, so one relay peer id is one
 * device: a new session id there replaces the old one. Without that, every forged session id became a
 * verified peer with a relayed channel (and, in the contact link, a SYNC and a file session each).
 */
import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { fromBase64, toHex } from '../src/crypto/bytes.js';
import { open } from '../src/crypto/secretbox.js';
import { topicKeyOf } from '../src/discover/topicProofs.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { SocketHandlers } from '../src/effects/socket.js';
import { discoverSession, type SessionEvent } from '../src/discover/session.js';
import { SignalSealer, signalKey } from '../src/discover/signal.js';

describe('DISCOVER session, a hostile contact claiming many device sessions', () => {
  it('keeps one peer per relay peer id: forged session ids replace each other', async () => {
    const contactKey = cryptoRandomBytes(32);
    const { topic } = topicKeyOf(contactKey);
    const key = signalKey(contactKey);
    let handlers: SocketHandlers | undefined;
    const sent: Record<string, unknown>[] = [];
    const events: SessionEvent[] = [];
    // The session as a child: what it sends back is what its parent hears.
    const parent = setup({ actors: { session: discoverSession } }).createMachine({
      invoke: {
        src: 'session',
        input: {
          contactKey,
          url: 'ws://relay.invalid/backchannel/v2',
          connector: (_url, h) => {
            handlers = h;
            return { send: (text) => void sent.push(JSON.parse(text) as Record<string, unknown>), close: () => {} };
          },
          randomBytes: cryptoRandomBytes,
        },
      },
      on: { '*': { actions: ({ event }) => void events.push(event as SessionEvent) } },
    });
    const actor = createActor(parent).start();
    const deliver = (frame: object) => handlers!.onMessage(JSON.stringify(frame));
    deliver({ type: 'challenge', challenge: toHex(cryptoRandomBytes(32)) });
    const hostile = 'f'.repeat(16);
    deliver({ type: 'announced', topic, peer: '0'.repeat(16), peers: [hostile] });
    // Our session id, read from the hello we sent the hostile device (it can open it: it holds the key).
    const helloFrame = sent.find((f) => f.type === 'send' && f.to === hostile)!;
    const ours = (JSON.parse(new TextDecoder().decode(open(key, fromBase64(helloFrame.blob as string)))) as { sid: string }).sid;

    const SESSIONS = 50;
    for (let i = 0; i < SESSIONS; i++) {
      const forged = new SignalSealer(key, toHex(cryptoRandomBytes(8)), cryptoRandomBytes);
      deliver({ type: 'message', topic, from: hostile, kind: 'signal', blob: forged.seal(ours, 'hello') });
      deliver({ type: 'message', topic, from: hostile, kind: 'signal', blob: forged.seal(ours, 'relay') });
    }
    const connected = events.filter((e) => e.type === 'session.connected').length;
    const closed = events.filter((e) => e.type === 'session.channelClosed').length;
    actor.stop();
    // One device at that relay peer id: at most one channel open at a time.
    expect(connected - closed).toBe(1);
  });
});
