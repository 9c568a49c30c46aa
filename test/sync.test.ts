import { describe, expect, it } from 'vitest';
import { waitFor } from 'xstate';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { documentId } from '../src/db/database.js';
import { decodeFrame, encodeHello, encodeSync, Reassembler } from '../src/sync/frame.js';
import { ProtocolError, TooLargeError } from '../src/errors.js';
import { Replica } from './helpers/replica.js';

async function pairOfContacts() {
  const key = cryptoRandomBytes(32);
  const alice = await new Replica().start();
  const bob = await new Replica().start();
  await alice.db.addContact({ moniker: 'Bob', contactKey: key });
  await bob.db.addContact({ moniker: 'Alice', contactKey: key });
  return { alice, bob, channel: documentId(key) };
}

describe('sync over a transport', () => {
  it('two contacts who each created the channel converge, with every message from both sides', async () => {
    const { alice, bob, channel } = await pairOfContacts();
    await alice.db.sendMessage(channel, { text: 'from alice, offline' });
    await bob.db.sendMessage(channel, { text: 'from bob, offline' });
    const link = new MemoryLink();
    const a = alice.sync(link.a, [channel]);
    const b = bob.sync(link.b, [channel]);
    await waitFor(a, (s) => s.matches({ syncing: 'inSync' }));
    await waitFor(b, (s) => s.matches({ syncing: 'inSync' }));
    const texts = (r: Replica) =>
      r.db
        .messages(channel)
        .map((m) => m.text)
        .sort();
    expect(texts(alice)).toEqual(['from alice, offline', 'from bob, offline']);
    expect(texts(bob)).toEqual(texts(alice));
    // Live: a message sent while connected arrives.
    const arrived = new Promise<void>((resolve) => {
      const off = alice.db.docs.onChange(() => texts(alice).includes('live') && (off(), resolve()));
    });
    await bob.db.sendMessage(channel, { text: 'live' });
    await arrived;
    expect(texts(alice)).toEqual(['from alice, offline', 'from bob, offline', 'live']);
    link.cut('bye');
    expect(a.getSnapshot().value).toBe('closed');
    expect(a.getSnapshot().output?.peer).toBe(bob.db.deviceId);
  });

  it('splits large sync messages into frames and reassembles them', async () => {
    const { alice, bob, channel } = await pairOfContacts();
    for (let i = 0; i < 200; i++) await alice.db.sendMessage(channel, { text: `message ${i} `.padEnd(200, '.') });
    const link = new MemoryLink({ maxFrameBytes: 1024 });
    const a = alice.sync(link.a, [channel]);
    const b = bob.sync(link.b, [channel]);
    await waitFor(a, (s) => s.matches({ syncing: 'inSync' }));
    await waitFor(b, (s) => s.matches({ syncing: 'inSync' }), { timeout: 10_000 });
    expect(bob.db.messages(channel)).toHaveLength(200);
  });

  it('resumes an interrupted sync, and a reconnect after a full sync costs almost nothing', async () => {
    const { alice, bob, channel } = await pairOfContacts();
    for (let i = 0; i < 300; i++) await alice.db.sendMessage(channel, { text: `m${i}` });
    // First attempt: small frames, cut after a few of them got through.
    const first = new MemoryLink({ mode: 'manual', maxFrameBytes: 512 });
    alice.sync(first.a, [channel]);
    bob.sync(first.b, [channel]);
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setImmediate(r));
      first.deliver();
    }
    first.cut('interrupted');
    expect(bob.db.messages(channel).length).toBeLessThan(300);
    // Second attempt completes.
    const second = new MemoryLink();
    const a2 = alice.sync(second.a, [channel]);
    const b2 = bob.sync(second.b, [channel]);
    await waitFor(a2, (s) => s.matches({ syncing: 'inSync' }));
    await waitFor(b2, (s) => s.matches({ syncing: 'inSync' }));
    expect(bob.db.messages(channel).map((m) => m.text)).toEqual(alice.db.messages(channel).map((m) => m.text));
    second.cut('done');
    // Both engines have closed (their sync state is saved) before Bob's device goes down.
    await Promise.all([waitFor(a2, (s) => s.status === 'done'), waitFor(b2, (s) => s.status === 'done')]);
    // Third: nothing changed, and both sides remember what they share (persisted sync state).
    await bob.crashAndRestart();
    const third = new MemoryLink();
    const a3 = alice.sync(third.a, [channel]);
    const b3 = bob.sync(third.b, [channel]);
    await waitFor(a3, (s) => s.matches({ syncing: 'inSync' }));
    await waitFor(b3, (s) => s.matches({ syncing: 'inSync' }));
    expect(third.bytesDelivered).toBeLessThan(400);
    expect(second.bytesDelivered).toBeGreaterThan(5_000);
  });

  it('fails cleanly (typed, transport closed, nothing stored) on a malformed frame', async () => {
    const { alice, channel } = await pairOfContacts();
    const link = new MemoryLink();
    const a = alice.sync(link.a, [channel]);
    await link.b.send(encodeHello('ab'.repeat(16)));
    for (const f of encodeSync(channel, 0, Uint8Array.of(1, 2, 3, 4, 5), 1024)) await link.b.send(f);
    const done = await waitFor(a, (s) => s.status === 'done');
    expect(done.value).toBe('failed');
    expect(done.output?.error).toBeInstanceOf(ProtocolError);
    expect(link.closed).toBe(true);
    expect(alice.db.messages(channel)).toEqual([]);
  });

  it('refuses a document this channel does not carry, and sync data before hello', async () => {
    const { alice, channel } = await pairOfContacts();
    const link = new MemoryLink();
    const a = alice.sync(link.a, [channel]);
    for (const f of encodeSync(channel, 0, Uint8Array.of(1), 1024)) await link.b.send(f);
    const done = await waitFor(a, (s) => s.status === 'done');
    expect(done.output?.error?.message).toMatch(/before hello/);
  });

  it('frames: version byte, types, bounds', () => {
    expect(() => decodeFrame(Uint8Array.of(2, 1))).toThrow(/version 2/);
    expect(decodeFrame(Uint8Array.of(1, 9))).toEqual({ type: 'unknown', frameType: 9 }); // a later version's: ignored (test/sync-features.test.ts)
    expect(() => decodeFrame(Uint8Array.of(1))).toThrow(ProtocolError);
    const id = 'cd'.repeat(16);
    const frames = encodeSync(id, 7, new Uint8Array(5000).fill(7), 1000);
    expect(frames.length).toBe(6);
    const r = new Reassembler(1 << 20);
    let whole: Uint8Array | undefined;
    for (const f of frames) whole = r.push(decodeFrame(f) as never) ?? whole;
    expect(whole?.length).toBe(5000);
    const small = new Reassembler(3000);
    expect(() => frames.forEach((f) => small.push(decodeFrame(f) as never))).toThrow(TooLargeError);
    // A gap drops the partial message instead of corrupting it.
    const g = new Reassembler(1 << 20);
    expect(g.push(decodeFrame(frames[0]!) as never)).toBeUndefined();
    expect(g.push(decodeFrame(frames[2]!) as never)).toBeUndefined();
    expect(g.push(decodeFrame(frames[3]!) as never)).toBeUndefined();
  });
});
