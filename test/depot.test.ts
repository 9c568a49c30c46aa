/**
 * The relay's depot: Bob goes offline, Alice sends three messages, the relay restarts (its depot on
 * disk), Bob comes back and receives all three, once each, in order; the relay then holds nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent } from '../src/app/backchannel.js';
import { discoveryTopic } from '../src/crypto/topic.js';
import { fromHex } from '../src/crypto/bytes.js';
import { freePort } from './helpers/processes.js';
import { rawClient } from './helpers/rawClient.js';
import { proveOn } from './helpers/topicProof.js';
import { depotTag } from '../src/depot/payload.js';
import { tempDirs, until } from './helpers/wait.js';

const dirs = tempDirs('bc-depot-');
const temp = dirs.make;
afterAll(dirs.removeAll);

describe('depot', () => {
  it('delivers what was sent while the contact was offline, across a relay restart, once each, in order', async () => {
    const port = await freePort();
    const relayData = temp();
    let relay: Relay = await startRelay({ port, dataDir: relayData });
    const open = (dir: string): Promise<Backchannel> =>
      createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url, discoverTimeouts: { reconnectBaseMs: 50 } });
    const aliceDir = temp();
    const bobDir = temp();
    const alice = await open(aliceDir);
    let bob = await open(bobDir);
    const { code, done } = await alice.invite({ moniker: 'Bob' });
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
    const topic = discoveryTopic(fromHex(bobOnAlice.channels[0]!));

    await bob.close(); // Bob goes offline
    await until(() => alice.presence(bobOnAlice.id) === undefined);
    const stored = new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.text === 'three' && resolve()));
    for (const text of ['one', 'two', 'three']) await alice.send(bobOnAlice.id, { text });
    await stored; // the relay acknowledged all three: on its disk
    expect((await relay.depot.fetch(topic)).items.length).toBeGreaterThan(0);

    expect(alice.relayStatus).toBe('reachable');
    const statuses: string[] = [];
    alice.subscribe((e) => e.type === 'relay' && statuses.push(e.status));
    await relay.close(); // the relay restarts; its depot is on disk
    await until(() => alice.relayStatus === 'unreachable');
    relay = await startRelay({ port, dataDir: relayData });
    await until(() => alice.relayStatus === 'reachable');
    expect(statuses).toEqual(['unreachable', 'reachable']);
    expect((await relay.depot.fetch(topic)).items.length).toBeGreaterThan(0);

    const received: string[] = [];
    bob = await createBackchannel({ storage: new NodeFsStorage(bobDir), connector: nodeSocketConnector(), relay: relay.url });
    bob.subscribe((e) => e.type === 'message' && e.incoming && received.push(e.message.text));
    await until(() => received.length >= 3);
    // Bob acknowledged every deposit, so the relay deleted them: nothing is left that could arrive again.
    await until(async () => (await relay.depot.fetch(topic)).items.length === 0);
    expect(received).toEqual(['one', 'two', 'three']);
    expect(bob.messages(aliceOnBob.id).map((m) => m.text)).toEqual(['one', 'two', 'three']);
    await alice.close();
    await bob.close();
    await relay.close();
  });

  it(
    'delivers 80 messages of 60 KB (far more than one frame) once each, in order, across a relay restart: split deposits, paged fetches',
    { timeout: 240_000 },
    async () => {
      const port = await freePort();
      const relayData = temp();
      let relay: Relay = await startRelay({ port, dataDir: relayData });
      const open = (dir: string): Promise<Backchannel> =>
        createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url, discoverTimeouts: { reconnectBaseMs: 50 } });
      const alice = await open(temp());
      const bobDir = temp();
      let bob = await open(bobDir);
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const topic = discoveryTopic(fromHex(bobOnAlice.channels[0]!));
      await bob.close();
      await until(() => alice.presence(bobOnAlice.id) === undefined);

      // Random text: compression cannot shrink it below the frame limit.
      const texts = Array.from({ length: 80 }, (_, i) => `${i} ${randomBytes(45_000).toString('base64')}`);
      const refusals: string[] = [];
      alice.subscribe((e) => e.type === 'refused' && refusals.push(e.reason));
      const stored = new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.text === texts.at(-1) && resolve()));
      for (const text of texts) await alice.send(bobOnAlice.id, { text });
      await stored;
      expect(refusals).toEqual([]);
      await relay.close();
      relay = await startRelay({ port, dataDir: relayData });
      // Several deposits, each under the relay's frame limit; more than one fetch page.
      await relay.depot.count(); // builds the index from disk
      const kept = relay.depot.totals;
      expect(kept.items).toBeGreaterThan(5);
      expect(kept.bytes).toBeGreaterThan(texts.length * 60_000);

      const received: string[] = [];
      bob = await createBackchannel({ storage: new NodeFsStorage(bobDir), connector: nodeSocketConnector(), relay: relay.url });
      bob.subscribe((e) => e.type === 'message' && e.incoming && received.push(e.message.text));
      await until(() => received.length >= texts.length, 60_000);
      // Acknowledged deposits are deleted: watch the index's counter (a fetch per poll would read the
      // whole topic from disk, in the queue the acknowledgements wait in).
      await until(() => relay.depot.totals.items === 0, 60_000);
      expect((await relay.depot.fetch(topic)).items).toEqual([]);
      expect(received.length).toBe(texts.length);
      expect(bob.messages(aliceOnBob.id).map((m) => m.text)).toEqual(texts);
      await Promise.all([alice.close(), bob.close()]);
      await relay.close();
    },
  );

  it('a deposit the relay refuses is reported as a typed event, and the message stays, to sync later', async () => {
    const relay = await startRelay({ depotLimits: { maxBlobChars: 16 } });
    const open = (dir: string) => createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url });
    const alice = await open(temp());
    const bobDir = temp();
    let bob = await open(bobDir);
    const { code, done } = await alice.invite();
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code)]);
    await bob.close();
    await until(() => alice.presence(bobOnAlice.id) === undefined);
    const refused = new Promise<BackchannelEvent>((resolve) => alice.subscribe((e) => e.type === 'refused' && resolve(e)));
    await alice.send(bobOnAlice.id, { text: 'too big for this relay' });
    expect(await refused).toMatchObject({
      type: 'refused',
      contactId: bobOnAlice.id,
      reason: expect.stringMatching(/^deposit too large \(\d+ > 16 characters\)$/),
    });
    // Nothing lost: when Bob is back, SYNC carries it.
    bob = await open(bobDir);
    await until(() => bob.messages(aliceOnBob.id).some((m) => m.text === 'too big for this relay'));
    await Promise.all([alice.close(), bob.close()]);
    await relay.close();
  });

  it('tells a device that fetched a topic when a deposit lands there, not the depositor', async () => {
    const relay = await startRelay();
    const [fetcher, depositor, bystander] = await Promise.all([rawClient(relay.discoveryUrl), rawClient(relay.discoveryUrl), rawClient(relay.discoveryUrl)]);
    const key = new Uint8Array(32).fill(0xd);
    const topic = await proveOn(fetcher, key);
    await proveOn(depositor, key);
    const otherTopic = await proveOn(bystander, new Uint8Array(32).fill(0xe));
    fetcher.send({ type: 'fetch', topic });
    await fetcher.next((f) => f.type === 'deposits');
    bystander.send({ type: 'fetch', topic: otherTopic });
    await bystander.next((f) => f.type === 'deposits');
    depositor.send({ type: 'fetch', topic });
    await depositor.next((f) => f.type === 'deposits');
    depositor.send({ type: 'deposit', topic, blob: 'AAAA' });
    await depositor.next((f) => f.type === 'deposited');
    expect(await fetcher.next((f) => f.type === 'waiting')).toEqual({ type: 'waiting', topic });
    depositor.send({ type: 'ping' }); // the relay answers in order: after this pong, no `waiting` is coming
    bystander.send({ type: 'ping' });
    await Promise.all([depositor.next((f) => f.type === 'pong'), bystander.next((f) => f.type === 'pong')]);
    expect(depositor.frames.some((f) => f.type === 'waiting')).toBe(false);
    expect(bystander.frames.some((f) => f.type === 'waiting')).toBe(false);
    for (const c of [fetcher, depositor, bystander]) c.close();
    await relay.close();
  });

  it("leaves a device's own deposits out of its fetches (an opaque tag per device and contact), page by page", async () => {
    const relay = await startRelay({ depotLimits: { maxFetchChars: 8 } });
    const key = new Uint8Array(32).fill(0x51);
    const [myTag, theirs] = [depotTag(key, 'a'.repeat(32)), depotTag(key, 'b'.repeat(32))];
    // Opaque: not the device id, different per device and per contact.
    expect(myTag).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set([myTag, theirs, depotTag(new Uint8Array(32).fill(0x52), 'a'.repeat(32))]).size).toBe(3);
    const [me, contact] = [await rawClient(relay.discoveryUrl), await rawClient(relay.discoveryUrl)];
    const topic = await proveOn(me, key);
    await proveOn(contact, key);
    const deposit = async (c: typeof me, blob: string, tag: string) => {
      c.frames.splice(0);
      c.send({ type: 'deposit', topic, blob, tag });
      return (await c.next((f) => f.type === 'deposited')).id as string;
    };
    const ids: string[] = [];
    for (const blob of ['AAAA', 'BBBB', 'CCCC']) ids.push(await deposit(me, blob, myTag));
    const theirsId = await deposit(contact, 'DDDD', theirs);
    ids.push(await deposit(me, 'EEEE', myTag));
    /** Every page of a fetch that skips `skip` (and `leftOut`, my other devices' tags), following `more`. */
    const fetchAll = async (c: typeof me, skip: string, leftOut?: string[]) => {
      const got: string[] = [];
      let after: string | undefined;
      for (;;) {
        c.frames.splice(0);
        c.send({ type: 'fetch', topic, skip, ...(after ? { after } : {}), ...(leftOut ? { mine: leftOut } : {}) });
        const page = await c.next((f) => f.type === 'deposits');
        const items = page.items as { id: string }[];
        got.push(...items.map((i) => i.id));
        if (!page.more || items.length === 0) return got;
        after = items.at(-1)!.id;
      }
    };
    expect(await fetchAll(me, myTag)).toEqual([theirsId]);
    expect(await fetchAll(contact, theirs)).toEqual(ids);
    // My other device's deposit is for the contact: a fetch naming it among `mine` leaves it out too, page by page.
    const other = depotTag(key, 'c'.repeat(32));
    const otherId = await deposit(me, 'FFFF', other);
    expect(await fetchAll(me, myTag)).toEqual([theirsId, otherId]);
    expect(await fetchAll(me, myTag, [other])).toEqual([theirsId]);
    expect(await fetchAll(contact, theirs)).toEqual([...ids, otherId]);
    // A bad tag is refused, naming the request.
    me.send({ type: 'fetch', topic, skip: 'ME' });
    expect(await me.next((f) => f.type === 'error')).toEqual({ type: 'error', re: 'fetch', reason: "fetch's 'skip' must be a tag of 16 hex digits" });
    for (const c of [me, contact]) c.close();
    await relay.close();
  });

  it('an error frame names the request it answers', async () => {
    const relay = await startRelay();
    const client = await rawClient(relay.discoveryUrl);
    client.send({ type: 'fetch', topic: 'nope' });
    expect(await client.next((f) => f.type === 'error')).toEqual({ type: 'error', re: 'fetch', reason: "fetch needs a 'topic' of 64 hex digits" });
    client.send({ type: 'ack', topic: 'a'.repeat(64), ids: 'all' });
    expect(await client.next((f) => f.type === 'error' && f.re === 'ack')).toEqual({
      type: 'error',
      re: 'ack',
      reason: "ack needs 'ids', a list of deposit ids",
    });
    client.send({ type: 'deposit', topic: 'a'.repeat(64), blob: '!' });
    expect(await client.next((f) => f.type === 'error' && f.re === 'deposit')).toEqual({ type: 'error', re: 'deposit', reason: 'blob must be base64' });
    client.close();
    await relay.close();
  });

  it('quotas and TTL, over the wire: a flood into one topic is refused with a clear error, other topics are unaffected, and deposits expire', async () => {
    let now = 1_000_000;
    const relay = await startRelay({
      now: () => now,
      depotLimits: { maxItemsPerTopic: 3, maxBytesPerTopic: 64, maxBlobChars: 40, ttlMs: 60_000 },
    });
    const client = await rawClient(relay.discoveryUrl);
    const [topicA, topicB, topicC] = [
      await proveOn(client, new Uint8Array(32).fill(0xa)),
      await proveOn(client, new Uint8Array(32).fill(0xb)),
      await proveOn(client, new Uint8Array(32).fill(0xc)),
    ];
    let replies = client.frames.length; // the challenge and the three `proven`
    /** Send a depot frame and return the reply to it (the relay answers a connection in order). */
    const call = async (frame: Record<string, unknown>) => {
      client.send(frame);
      await client.next(() => client.frames.length > replies);
      return client.frames[replies++]!;
    };
    for (let i = 0; i < 3; i++) expect((await call({ type: 'deposit', topic: topicA, blob: 'AAAA' })).type).toBe('deposited');
    expect(await call({ type: 'deposit', topic: topicA, blob: 'AAAA' })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: 'depot full for this topic (3 deposits)',
    });
    // The flood changed nothing elsewhere: B takes deposits, A still holds its three.
    expect((await call({ type: 'deposit', topic: topicB, blob: 'BBBB' })).type).toBe('deposited');
    expect(((await call({ type: 'fetch', topic: topicA })).items as unknown[]).length).toBe(3);
    // Bytes per topic, and one deposit's size, are bounded too.
    expect((await call({ type: 'deposit', topic: topicC, blob: 'C'.repeat(40) })).type).toBe('deposited');
    expect(await call({ type: 'deposit', topic: topicC, blob: 'C'.repeat(40) })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: 'depot full for this topic (64 bytes)',
    });
    expect(await call({ type: 'deposit', topic: topicB, blob: 'B'.repeat(44) })).toEqual({
      type: 'error',
      re: 'deposit',
      reason: 'deposit too large (44 > 40 characters)',
    });

    // Time passes beyond the TTL: the next prune removes everything, and the relay still serves.
    now += 60_001;
    expect(await relay.depot.prune()).toBe(5);
    for (const topic of [topicA, topicB, topicC]) expect((await call({ type: 'fetch', topic })).items).toEqual([]);
    expect((await call({ type: 'deposit', topic: topicA, blob: 'AAAA' })).type).toBe('deposited');
    client.close();
    await relay.close();
  });
});
