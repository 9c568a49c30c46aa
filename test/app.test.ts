/**
 * The SDK façade as a host app uses it: Alice and Bob, each with their own storage, on a real relay:
 * invite/accept → both have the contact → messages both ways, live → Bob restarts from his storage and
 * still has everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent } from '../src/app/backchannel.js';
import { AbortedError, BackchannelError, BadCodeError, BusyError, ClosedError, InvalidArgumentError } from '../src/errors.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { SYSTEM_KEY } from '../src/db/database.js';
import { replayDiff } from './helpers/actors.js';
import { replay } from '../src/journal/replay.js';
import { tempDirs, until } from './helpers/wait.js';

let relay: Relay;
const dirs = tempDirs('bc-app-');
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
  dirs.removeAll();
});

function open(dir = dirs.make()): Promise<Backchannel> {
  return createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url });
}

function nextMessage(bc: Backchannel, incoming: boolean): Promise<Extract<BackchannelEvent, { type: 'message' }>> {
  return new Promise((resolve) => {
    const off = bc.subscribe((e) => {
      if (e.type === 'message' && e.incoming === incoming) {
        off();
        resolve(e);
      }
    });
  });
}

describe('createBackchannel', () => {
  it('pairs, then messages flow both ways in the background; a restart keeps everything', async () => {
    const aliceDir = dirs.make();
    const alice = await open(aliceDir);
    const bobDir = dirs.make();
    let bob = await open(bobDir);
    expect(alice.actor.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    const { code, done } = await alice.invite({ moniker: 'Bob' });
    expect(alice.actor.getSnapshot().matches({ ready: { pairing: 'inviting' } })).toBe(true);
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
    expect(alice.contacts().map((c) => c.moniker)).toEqual(['Bob']);
    expect(bob.contacts().map((c) => c.moniker)).toEqual(['Alice']);

    const atBob = nextMessage(bob, true);
    await alice.send(bobOnAlice.id, { text: 'hi Bob' });
    expect((await atBob).message.text).toBe('hi Bob');
    const atAlice = nextMessage(alice, true);
    await bob.send(aliceOnBob.id, { text: 'hi Alice' });
    expect((await atAlice).message.text).toBe('hi Alice');

    // Alice's journal holds every actor, effects too (the pairing's socket got its frames), and on
    // disk it holds no code word pair, contact key or message text in clear.
    const journaled = await replay(alice.journal!);
    expect(journaled.some((r) => r.path === 'app/pairing/wormhole/socket' && r.effect === 'socket' && r.events > 0)).toBe(true);
    expect(journaled.some((r) => r.path === 'app/pairing' && r.machine === 'pairing' && r.ended === 'done')).toBe(true);
    expect(journaled.some((r) => r.machine === 'sync')).toBe(true);
    const onDisk = (await new NodeFsStorage(aliceDir).loadRange(['journal', 'seg'])).map((c) => Buffer.from(c.data).toString('utf8')).join('\n');
    const [, w1, w2] = code.split('-');
    for (const secret of [`${w1}-${w2}`, bobOnAlice.channels[0]!, 'hi Bob', 'hi Alice']) expect(onDisk).not.toContain(secret);

    // The async-iterator form sees the same events.
    const it = alice.events();
    const next = it.next();
    await bob.send(aliceOnBob.id, { text: 'again' });
    const ev = (await next).value as BackchannelEvent;
    expect(ev.type === 'message' && ev.message.text).toBe('again');
    await it.return!();

    await bob.close();
    await expect(bob.send(aliceOnBob.id, { text: 'x' })).rejects.toBeInstanceOf(ClosedError);
    bob = await open(bobDir);
    expect(bob.messages(aliceOnBob.id).map((m) => m.text)).toEqual(['hi Bob', 'hi Alice', 'again']);
    const renamed = await bob.renameContact(aliceOnBob.id, 'Alice L.');
    expect(renamed.moniker).toBe('Alice L.');
    await bob.removeContact(aliceOnBob.id);
    expect(bob.contacts()).toEqual([]);
    await alice.close();
    await bob.close();
  });

  it('streams every actor to an inspector, with no code, key or plaintext in it', async () => {
    const events: unknown[] = [];
    const d1 = dirs.make();
    const d2 = dirs.make();
    const watched = await createBackchannel({ storage: new NodeFsStorage(d1), connector: nodeSocketConnector(), relay: relay.url, inspect: (e) => events.push(e) });
    const other = await open(d2);
    const { code, done } = await watched.invite({ moniker: 'Other' });
    const [mine] = await Promise.all([done, other.accept(code)]);
    const arrived = nextMessage(other, true);
    await watched.send(mine.id, { text: 'secret words in a message' });
    await arrived;
    const seen = JSON.stringify(events, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'function' ? undefined : v));
    const ids = new Set(events.map((e) => ((e as { actorRef?: { id?: string } }).actorRef?.id ?? '')));
    expect([...ids].some((id) => id.startsWith('link-'))).toBe(true); // the contact's link child is watched too
    expect(seen).toContain('"linking"');
    // The password is the words together; single words can be ordinary tokens ("snapshot" is a PGP word).
    const [, w1, w2] = code.split('-');
    for (const s of [`${w1}-${w2}`, `"${w1}","${w2}"`, 'secret words in a message', mine.channels[0]!]) expect(seen).not.toContain(s);
    await watched.close();
    await other.close();
  });

  it('app states: first start, one pairing at a time, cancel and abort, presence, offline/online, a new relay', async () => {
    const aliceDir = dirs.make();
    let alice = await open(aliceDir);
    expect(alice.firstStart).toBe(true);
    await alice.close();
    alice = await open(aliceDir);
    expect(alice.firstStart).toBe(false);

    // One pairing at a time; cancel and an aborted signal reject with AbortedError and free the slot.
    const first = await alice.invite();
    await expect(alice.invite()).rejects.toBeInstanceOf(BusyError);
    first.cancel();
    await expect(first.done).rejects.toBeInstanceOf(AbortedError);
    expect(alice.actor.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    const controller = new AbortController();
    const second = await alice.invite({ signal: controller.signal });
    controller.abort();
    await expect(second.done).rejects.toBeInstanceOf(AbortedError);
    await expect(alice.invite({ signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    await expect(alice.accept('not a code')).rejects.toBeInstanceOf(BadCodeError);

    const bob = await open();
    const presence: BackchannelEvent[] = [];
    alice.subscribe((e) => e.type === 'presence' && presence.push(e));
    const phases: Record<string, string[]> = { alice: [], bob: [] };
    const { code, done } = await alice.invite({ moniker: 'Bob', onProgress: (p) => phases.alice!.push(p) });
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice', onProgress: (p) => phases.bob!.push(p) })]);
    for (const side of ['alice', 'bob']) expect(phases[side], side).toEqual(['connecting', 'waiting', 'verifying', 'confirming', 'naming']);
    await until(() => alice.presence(bobOnAlice.id) !== undefined && bob.presence(aliceOnBob.id) !== undefined);
    expect(presence.at(-1)).toEqual({ type: 'presence', contactId: bobOnAlice.id, via: 'relayed' });

    // Offline: links stop, presence goes; what is written meanwhile syncs once back online.
    alice.goOffline();
    expect(alice.online).toBe(false);
    expect(alice.presence(bobOnAlice.id)).toBeUndefined();
    expect(presence.at(-1)).toEqual({ type: 'presence', contactId: bobOnAlice.id, via: undefined });
    await alice.send(bobOnAlice.id, { text: 'written offline' });
    const atBob = nextMessage(bob, true);
    alice.goOnline();
    expect((await atBob).message.text).toBe('written offline');

    // A new relay in Settings restarts both links on it.
    const relay2 = await startRelay();
    try {
      await Promise.all([alice.updateSettings({ relay_server: relay2.url }), bob.updateSettings({ relay_server: relay2.url })]);
      await expect(alice.updateSettings({ relay_server: 'http://nope' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await until(() => relay2.discovery.connectionCount >= 2 && alice.presence(bobOnAlice.id) !== undefined);
      const again = nextMessage(alice, true);
      await bob.send(aliceOnBob.id, { text: 'via the new relay' });
      expect((await again).message.text).toBe('via the new relay');

      // The journal of all that (real sockets, real sync) replays to the running machines: app,
      // link, DISCOVER and SYNC. Retried while background traffic settles between read and compare.
      let last = { compared: 0, diffs: ['not compared'] };
      await until(async () => {
        last = await replayDiff(alice.journal!, alice.actor);
        return last.diffs.length === 0;
      }, 10_000).catch(() => {});
      expect(last.diffs).toEqual([]);
      expect(last.compared).toBeGreaterThanOrEqual(4); // app, link, discover, sync
    } finally {
      await alice.close();
      await bob.close();
      await relay2.close();
    }
  });

  it('a damaged device identity: open rejects with a typed error, and leaves the data in place', async () => {
    const storage = new MemoryStorage();
    await storage.save(SYSTEM_KEY, Uint8Array.of(1, 2, 3));
    const error = await createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackchannelError);
    expect((error as BackchannelError).code).toBe('IDENTITY_DAMAGED');
    expect(await storage.load(SYSTEM_KEY)).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('refuses a bad relay URL with a typed error', async () => {
    const d = dirs.make();
    await expect(createBackchannel({ storage: new NodeFsStorage(d), connector: nodeSocketConnector(), relay: 'http://x' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});
