/**
 * DISCOVER through a real relay over real sockets, relayed path (no WebRTC): two devices of one
 * contact find each other by topic, prove the key, connect through the sealed relayed transport, and
 * SYNC runs over it. The relay's frames hold no key, no plaintext; attackers on the topic are refused.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { relayLeaks } from './helpers/relayFrames.js';
import { createActor, SimulatedClock, waitFor, type Actor } from 'xstate';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { openWebRtcTransport } from '../src/adapters/webrtcTransport.js';
import { toHex } from '../src/crypto/bytes.js';
import { discoveryTopic } from '../src/crypto/topic.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { Transport } from '../src/effects/transport.js';
import { documentId } from '../src/db/database.js';
import { AbortedError, SignalRejectedError, TimeoutError } from '../src/errors.js';
import { connectToContact } from '../src/discover/connect.js';
import { RELAYED_DEAD_MS, RELAYED_KEEPALIVE_MS } from '../src/discover/relayedTransport.js';
import { discoverMachine } from '../src/machines/discoverMachine.js';
import type { RtcImplementation } from '../src/discover/session.js';
import wrtc from '@roamhq/wrtc';
import { rawClient } from './helpers/rawClient.js';
import { proveOn } from './helpers/topicProof.js';
import { Replica } from './helpers/replica.js';

let relay: Relay;
const frames: string[] = [];
beforeAll(async () => {
  relay = await startRelay({ onFrame: (_d, f) => frames.push(f) });
});
afterAll(() => relay.close());

function discover(
  contactKey: Uint8Array,
  rtc?: RtcImplementation,
): { actor: Actor<typeof discoverMachine>; connected: Promise<{ channel: Transport; via: string }>; rejected: SignalRejectedError[] } {
  const actor = createActor(discoverMachine, {
    input: {
      contactKey,
      url: relay.discoveryUrl,
      connector: nodeSocketConnector(),
      randomBytes: cryptoRandomBytes,
      rtc,
      openDirectTransport: openWebRtcTransport,
      timeouts: { directMs: 300 },
    },
  });
  const rejected: SignalRejectedError[] = [];
  actor.on('rejected', (e) => rejected.push(e.error as SignalRejectedError));
  const connected = new Promise<{ channel: Transport; via: string }>((resolve) => actor.on('connected', (e) => resolve(e)));
  actor.start();
  return { actor, connected, rejected };
}

describe('DISCOVER, relayed', () => {
  it('finds the other device by topic, connects through the sealed relay, and SYNC runs over it', async () => {
    frames.length = 0;
    const key = cryptoRandomBytes(32);
    const a = discover(key);
    const b = discover(key);
    const [ca, cb] = await Promise.all([a.connected, b.connected]);
    expect(ca.via).toBe('relayed');
    expect(cb.via).toBe('relayed');
    expect(a.actor.getSnapshot().matches({ session: { connected: 'relayed' } })).toBe(true);

    // SYNC over the discovered channel.
    const alice = await new Replica().start();
    const bob = await new Replica().start();
    await alice.db.addContact({ moniker: 'Bob', contactKey: key });
    await bob.db.addContact({ moniker: 'Alice', contactKey: key });
    const channel = documentId(key);
    const secret = 'plaintext that must not reach the relay';
    await alice.db.sendMessage(channel, { text: secret });
    alice.sync(ca.channel, [channel]);
    const sb = bob.sync(cb.channel, [channel]);
    await waitFor(sb, (s) => s.matches({ syncing: 'inSync' }) && bob.db.messages(channel).length === 1, { timeout: 10_000 });
    expect(bob.db.messages(channel)[0]!.text).toBe(secret);

    expect(frames.join('\n')).toContain(discoveryTopic(key)); // the topic is what the relay routes by
    expect(relayLeaks(frames, [toHex(key), secret, Buffer.from(secret).toString('base64')])).toEqual([]);
    a.actor.send({ type: 'STOP' });
    b.actor.send({ type: 'STOP' });
  });

  it('falls back to the relayed transport when WebRTC cannot connect', async () => {
    // Real WebRTC, but a relay-only ICE policy with no TURN server: no candidate can ever exist, so no
    // traffic leaves the machine and the data channel never opens.
    const blocked: RtcImplementation = {
      RTCPeerConnection: wrtc.RTCPeerConnection as unknown as typeof RTCPeerConnection,
      config: { iceServers: [], iceTransportPolicy: 'relay' },
    };
    const key = cryptoRandomBytes(32);
    const a = discover(key, blocked);
    const b = discover(key, blocked);
    await waitFor(a.actor, (s) => s.matches({ session: 'negotiating' }));
    const [ca, cb] = await Promise.all([a.connected, b.connected]);
    expect([ca.via, cb.via]).toEqual(['relayed', 'relayed']);
    const got = new Promise<string>((resolve) => cb.channel.on('message', (f) => resolve(Buffer.from(f).toString())));
    await ca.channel.send(Buffer.from('via the relay'));
    expect(await got).toBe('via the relay');
    a.actor.send({ type: 'STOP' });
    b.actor.send({ type: 'STOP' });
  });

  it('reconnects after the other device drops, and after the relay drops every socket', async () => {
    const key = cryptoRandomBytes(32);
    const a = discover(key);
    const b = discover(key);
    await Promise.all([a.connected, b.connected]);
    // B goes away: A notices, starts over, and connects to B's next session.
    const aAgain = new Promise<{ channel: Transport }>((resolve) => {
      let n = 0;
      a.actor.on('connected', (e) => ++n === 1 && resolve(e));
    });
    b.actor.send({ type: 'STOP' });
    await waitFor(a.actor, (s) => s.matches('reconnecting') || s.matches({ session: 'waiting' }));
    const b2 = discover(key);
    const [again, b2c] = await Promise.all([aAgain, b2.connected]);
    const got = new Promise<string>((resolve) => b2c.channel.on('message', (f) => resolve(Buffer.from(f).toString())));
    await again.channel.send(Buffer.from('after reconnect'));
    expect(await got).toBe('after reconnect');
    // The relay drops everyone (a restart): both come back by themselves.
    const both = Promise.all([a.actor, b2.actor].map((actor) => new Promise((resolve) => actor.on('connected', resolve))));
    relay.discovery.shutdown();
    await both;
    expect(a.actor.getSnapshot().matches({ session: 'connected' })).toBe(true);
    a.actor.send({ type: 'STOP' });
    b2.actor.send({ type: 'STOP' });
  });

  it('connectToContact: resolves with the transport, or rejects typed on timeout and on abort', async () => {
    const key = cryptoRandomBytes(32);
    const base = { contactKey: key, url: relay.discoveryUrl, connector: nodeSocketConnector(), randomBytes: cryptoRandomBytes };
    await expect(connectToContact({ ...base, timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    const controller = new AbortController();
    const pending = connectToContact({ ...base, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortedError);
    const [a, b] = await Promise.all([connectToContact(base), connectToContact(base)]);
    expect([a.via, b.via]).toEqual(['relayed', 'relayed']);
    a.stop();
    b.stop();
  });

  it("runs the relayed channel's keepalive on the injected clock: a simulated one sends the acks and closes on a silent peer", async () => {
    // Each device on a clock of its own: Bob's never moves, so he never keeps alive after his opening ack.
    const [clockA, clockB] = [new SimulatedClock(), new SimulatedClock()];
    const key = cryptoRandomBytes(32);
    const base = { contactKey: key, url: relay.discoveryUrl, connector: nodeSocketConnector(), randomBytes: cryptoRandomBytes };
    const [a, b] = await Promise.all([connectToContact({ ...base, clock: clockA }), connectToContact({ ...base, clock: clockB })]);
    // A frame from Bob after his opening ack: once Alice has it, she knows he keeps alive.
    const heard = new Promise<void>((resolve) => a.channel.on('message', () => resolve()));
    await b.channel.send(new Uint8Array([1]));
    await heard;
    let closed: string | undefined;
    a.channel.on('close', (reason) => (closed = reason));
    const sent = () => frames.filter((f) => f.includes('"kind":"data"')).length;
    const before = sent();
    // Two ticks: the first sees her opening ack sealed since the start, the second a quiet period.
    clockA.increment(RELAYED_KEEPALIVE_MS);
    clockA.increment(RELAYED_KEEPALIVE_MS);
    // Alice sealed nothing in the last period: her keepalive went to the relay, on the simulated clock alone.
    await vi.waitFor(() => expect(sent()).toBeGreaterThan(before));
    for (let t = 2 * RELAYED_KEEPALIVE_MS; t < RELAYED_DEAD_MS; t += RELAYED_KEEPALIVE_MS) clockA.increment(RELAYED_KEEPALIVE_MS);
    expect(closed).toMatch(/sent nothing for 25000 ms/);
    a.stop();
    b.stop();
  });

  it('refuses replayed, reflected, forged and garbled signalling, and the honest devices still connect', async () => {
    const key = cryptoRandomBytes(32);
    const topic = discoveryTopic(key);
    // An eavesdropper on the topic records what passes and plays it back. Only a holder of the topic key
    // gets on the topic (topic-proof-process.test.ts); here Eve has it — as a malicious relay could
    // inject frames — and the sealed signalling alone must still hold.
    const eve = await rawClient(relay.discoveryUrl);
    await proveOn(eve, key);
    eve.send({ type: 'announce', topic });
    await eve.next((f) => f.type === 'announced');
    const a = discover(key);
    // Eve's hellos: garbage, truncated, and sealed under the wrong key.
    const joined = await eve.next((f) => f.type === 'joined');
    const wrong = discover(cryptoRandomBytes(32)); // a device of another contact, to harvest a valid-looking blob
    void wrong;
    for (const blob of ['AAAA', 'bm90IGEgYm94', Buffer.from(cryptoRandomBytes(100)).toString('base64')]) {
      eve.send({ type: 'send', topic, to: joined.peer, kind: 'signal', blob });
    }
    const hello = await eve.next((f) => f.type === 'message' && f.kind === 'signal'); // a's hello to eve
    // Reflection: send a's own hello back to it. Replay: send it twice more.
    for (let i = 0; i < 3; i++) eve.send({ type: 'send', topic, to: hello.from, kind: 'signal', blob: hello.blob });
    const b = discover(key);
    const [ca, cb] = await Promise.all([a.connected, b.connected]);
    expect(ca.via).toBe('relayed');
    expect(cb.via).toBe('relayed');
    const reasons = a.rejected.map((e) => e.data.reason);
    expect(reasons).toEqual(expect.arrayContaining(['forged', 'reflection']));
    expect(a.rejected.every((e) => e instanceof SignalRejectedError)).toBe(true);
    // The channel they got carries frames once each, in order (replayed channel frames: discover-signal.test.ts).
    const got: string[] = [];
    cb.channel.on('message', (f) => got.push(Buffer.from(f).toString()));
    // A sentinel sent after: once it is in, anything the replays could have added would be there too.
    const sentinel = new Promise<void>((resolve) => cb.channel.on('message', (f) => Buffer.from(f).toString() === 'sentinel' && resolve()));
    await ca.channel.send(Buffer.from('one'));
    await ca.channel.send(Buffer.from('two'));
    await ca.channel.send(Buffer.from('sentinel'));
    await sentinel;
    expect(got).toEqual(['one', 'two', 'sentinel']);
    eve.close();
    a.actor.send({ type: 'STOP' });
    b.actor.send({ type: 'STOP' });
    wrong.actor.send({ type: 'STOP' });
  });
});
