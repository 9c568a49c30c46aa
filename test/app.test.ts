/**
 * The SDK façade as a host app uses it: Alice and Bob, each with their own storage, on a real relay.
 * One case per behaviour: pairing, messages both ways, restart, rename/remove, the journal, the
 * inspector, one pairing at a time, cancel/abort, offline/online, a new relay, bad input.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent, type BackchannelOptions, type PairedContact } from '../src/app/backchannel.js';
import { AbortedError, BackchannelError, BadCodeError, BusyError, ClosedError, InvalidArgumentError, NotFoundError } from '../src/errors.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { SYSTEM_KEY } from '../src/db/database.js';
import { replayDiff } from './helpers/actors.js';
import { replay } from '../src/journal/replay.js';
import { tempDirs, until } from './helpers/wait.js';
import { readdirSync } from 'node:fs';

let relay: Relay;
const dirs = tempDirs('bc-app-');
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
  dirs.removeAll();
});

function open(dir = dirs.make(), options: Partial<BackchannelOptions> = {}): Promise<Backchannel> {
  return createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url, ...options });
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

/** Memory storage that refuses removals and document writes while `refusing` is set (a read-only or failing disk). */
class RefusingRemovals extends MemoryStorage {
  refusing = false;
  override async remove(key: string[]): Promise<void> {
    if (this.refusing) throw new Error('read-only storage');
    return super.remove(key);
  }
  override async removeRange(prefix: string[]): Promise<void> {
    if (this.refusing) throw new Error('read-only storage');
    return super.removeRange(prefix);
  }
  // A removal first writes its notice into the shared channel: documents refuse writes too.
  override async save(key: string[], data: Uint8Array): Promise<void> {
    if (this.refusing && key[0] === 'docs') throw new Error('read-only storage');
    return super.save(key, data);
  }
}

/** Alice invites, Bob accepts: each side's card for the other. */
async function pairUp(alice: Backchannel, bob: Backchannel): Promise<[bobOnAlice: PairedContact, aliceOnBob: PairedContact]> {
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  return Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
}

// A host's inspector gets read-only views of the actors; this test reaches the live ones by tapping the
// raw stream inside (the journal's side of it), as no host can.
const tap = vi.hoisted(() => ({ raw: undefined as ((e: InspectionEvent) => void) | undefined }));
vi.mock('../src/inspect.js', async (original) => {
  const real = await original<typeof import('../src/inspect.js')>();
  return {
    ...real,
    observers: (options: Parameters<typeof real.observers>[0]) => {
      const inner = real.observers(options);
      const raw = tap.raw;
      return raw ? (e: InspectionEvent) => (raw(e), inner?.(e)) : inner;
    },
  };
});

/** The app machine behind the next Backchannel opened (the first actor its raw stream hears of). */
function rootWatcher(): { root(): AnyActorRef } {
  let root: AnyActorRef | undefined;
  tap.raw = (e) => void (root ??= e.actorRef as AnyActorRef);
  return { root: () => root! };
}

describe('createBackchannel', () => {
  it('remembers its first start across a reopen', async () => {
    const dir = dirs.make();
    const first = await open(dir);
    expect(first.firstStart).toBe(true);
    expect(first.getSnapshot().firstStart).toBe(true);
    await first.close();
    const id = first.deviceId;
    expect(id).toMatch(/\S/);
    const again = await open(dir);
    expect(again.firstStart).toBe(false);
    expect(again.deviceId).toBe(id); // the device keeps its id: a chat tells its own messages by it
    await again.close();
  });

  it('pairs: both sides have the contact and the same verifier; progress goes through every phase', async () => {
    const [alice, bob] = await Promise.all([open(), open()]);
    expect(alice.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    const phases: Record<string, string[]> = { alice: [], bob: [] };
    const { code, done } = await alice.invite({ moniker: 'Bob', onProgress: (p) => phases.alice!.push(p) });
    expect(alice.getSnapshot().matches({ ready: { pairing: 'inviting' } })).toBe(true);
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice', onProgress: (p) => phases.bob!.push(p) })]);
    for (const side of ['alice', 'bob']) expect(phases[side], side).toEqual(['connecting', 'waiting', 'verifying', 'confirming', 'naming']);
    expect(bobOnAlice.verifier).toBe(aliceOnBob.verifier);
    expect(alice.contacts().map((c) => c.moniker)).toEqual(['Bob']);
    expect(bob.contacts().map((c) => c.moniker)).toEqual(['Alice']);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('messages flow both ways in the background, as events and through the async iterator', async () => {
    const [alice, bob] = await Promise.all([open(), open()]);
    const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
    const atBob = nextMessage(bob, true);
    const sent = await alice.send(bobOnAlice.id, { text: 'hi Bob' });
    expect(sent.text).toBe('hi Bob');
    expect((await atBob).message.text).toBe('hi Bob');
    const atAlice = nextMessage(alice, true);
    await bob.send(aliceOnBob.id, { text: 'hi Alice' });
    expect((await atAlice).message.text).toBe('hi Alice');

    const it = alice.events();
    const next = (async () => {
      // Presence and contact-card events (last_seen) come through the same iterator: skip to the message.
      for (;;) {
        const ev = (await it.next()).value as BackchannelEvent;
        if (ev.type === 'message') return ev;
      }
    })();
    await bob.send(aliceOnBob.id, { text: 'again' });
    const ev = await next;
    expect(ev.type === 'message' && ev.message.text).toBe('again');
    await it.return!();
    await expect(alice.send('no-such-contact', { text: 'x' })).rejects.toBeInstanceOf(BackchannelError); // typed, through the machine
    await Promise.all([alice.close(), bob.close()]);
  });

  it('a restart keeps contacts and messages; rename and remove go through the app', async () => {
    const bobDir = dirs.make();
    const alice = await open();
    let bob = await open(bobDir);
    const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
    const atBob = nextMessage(bob, true);
    await alice.send(bobOnAlice.id, { text: 'before the restart' });
    await atBob;
    await bob.close();
    await expect(bob.send(aliceOnBob.id, { text: 'x' })).rejects.toBeInstanceOf(ClosedError);
    bob = await open(bobDir);
    expect(bob.contacts().map((c) => c.moniker)).toEqual(['Alice']);
    expect(bob.messages(aliceOnBob.id).map((m) => m.text)).toEqual(['before the restart']);

    const [renamed, again] = await Promise.all([bob.renameContact(aliceOnBob.id, 'Alice L.'), bob.renameContact(aliceOnBob.id, 'Alice M.')]);
    expect([renamed.moniker, again.moniker]).toEqual(['Alice L.', 'Alice M.']); // in the order asked
    expect(bob.contacts()[0]!.moniker).toBe('Alice M.');
    await expect(bob.renameContact(aliceOnBob.id, '')).rejects.toBeInstanceOf(BackchannelError);
    await bob.removeContact(aliceOnBob.id);
    expect(bob.contacts()).toEqual([]);
    expect(Object.keys(bob.getSnapshot().presence)).toEqual([]);
    await expect(bob.removeContact(aliceOnBob.id)).rejects.toBeInstanceOf(NotFoundError);
    // Every one of those writes is in the journal, as the app machine's events.
    const app = (await replay(bob.journal!)).find((r) => r.path === 'app' && !r.ended);
    expect(app?.failure).toBeUndefined();
    await Promise.all([alice.close(), bob.close()]);
  });

  it('a removal the storage refuses fails typed and leaves the contact as it was: listed, linked, syncing', async () => {
    const storage = new RefusingRemovals();
    const alice = await open();
    const bob = await open(undefined, { storage });
    const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
    storage.refusing = true;
    await expect(bob.removeContact(aliceOnBob.id)).rejects.toBeInstanceOf(BackchannelError);
    storage.refusing = false;
    expect(bob.contacts().map((c) => c.id)).toEqual([aliceOnBob.id]);
    // Its link is back: what Alice writes now still reaches Bob.
    const atBob = nextMessage(bob, true);
    await alice.send(bobOnAlice.id, { text: 'still here' });
    expect((await atBob).message.text).toBe('still here');
    await Promise.all([alice.close(), bob.close()]);
  });

  it('close waits for the writes already asked for: they are saved, in order, and their promises resolve', async () => {
    const aliceDir = dirs.make();
    let alice = await open(aliceDir);
    const bob = await open();
    const [bobOnAlice] = await pairUp(alice, bob);
    await bob.close();
    const sends = ['one', 'two', 'three'].map((text) => alice.send(bobOnAlice.id, { text }));
    const renamed = alice.renameContact(bobOnAlice.id, 'Robert');
    const closed = alice.close();
    await expect(alice.send(bobOnAlice.id, { text: 'too late' })).rejects.toBeInstanceOf(ClosedError);
    expect((await Promise.all(sends)).map((m) => m.text)).toEqual(['one', 'two', 'three']);
    expect((await renamed).moniker).toBe('Robert');
    await closed;
    alice = await open(aliceDir);
    expect(alice.messages(bobOnAlice.id).map((m) => m.text)).toEqual(['one', 'two', 'three']);
    expect(alice.contacts()[0]!.moniker).toBe('Robert');
    await alice.close();
  });

  it('journals every actor, effects too, with no code, key or message text on disk', async () => {
    const aliceDir = dirs.make();
    const [alice, bob] = await Promise.all([open(aliceDir), open()]);
    const { code, done } = await alice.invite({ moniker: 'Bob' });
    const [bobOnAlice] = await Promise.all([done, bob.accept(code)]);
    const atBob = nextMessage(bob, true);
    await alice.send(bobOnAlice.id, { text: 'hi Bob' });
    await atBob;
    const journaled = await replay(alice.journal!);
    expect(journaled.some((r) => r.path === 'app/pairing/wormhole/socket' && r.effect === 'socket' && r.events > 0)).toBe(true);
    expect(journaled.some((r) => r.path === 'app/pairing' && r.machine === 'pairing' && r.ended === 'done')).toBe(true);
    expect(journaled.some((r) => r.machine === 'sync')).toBe(true);
    expect(journaled.some((r) => r.path.startsWith('app/') && r.effect === 'sendMessage')).toBe(true);
    await alice.journal!.flush();
    const onDisk = (await new NodeFsStorage(aliceDir).loadRange(['journal', 'seg'])).map((c) => Buffer.from(c.data).toString('utf8')).join('\n');
    const [, w1, w2] = code.split('-');
    for (const secret of [`${w1}-${w2}`, bobOnAlice.channels[0]!, 'hi Bob']) expect(onDisk).not.toContain(secret);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('streams every actor to an inspector, with no code, key or plaintext in it', async () => {
    const events: unknown[] = [];
    const watched = await open(dirs.make(), { inspect: (e) => events.push(e) });
    const other = await open();
    const { code, done } = await watched.invite({ moniker: 'Other' });
    const [mine] = await Promise.all([done, other.accept(code)]);
    const arrived = nextMessage(other, true);
    await watched.send(mine.id, { text: 'secret words in a message' });
    await arrived;
    const seen = JSON.stringify(events, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'function' ? undefined : v));
    const ids = new Set(events.map((e) => (e as { actorRef?: { id?: string } }).actorRef?.id ?? ''));
    expect([...ids].some((id) => id.startsWith('link-'))).toBe(true); // the contact's link child is watched too
    expect(seen).toContain('"linking"');
    expect(seen).toContain('message.send'); // the write went through the machine, its text redacted
    // The password is the words together; single words can be ordinary tokens ("snapshot" is a PGP word).
    const [, w1, w2] = code.split('-');
    for (const s of [`${w1}-${w2}`, `"${w1}","${w2}"`, 'secret words in a message', mine.channels[0]!]) expect(seen).not.toContain(s);
    await Promise.all([watched.close(), other.close()]);
  });

  it('runs one pairing at a time: a second invite or accept is refused with BusyError, the first goes on', async () => {
    const alice = await open();
    const first = await alice.invite();
    await expect(alice.invite()).rejects.toBeInstanceOf(BusyError);
    await expect(alice.accept(first.code)).rejects.toBeInstanceOf(BusyError);
    expect(alice.getSnapshot().matches({ ready: { pairing: 'inviting' } })).toBe(true);
    // The refusals did not touch the running pairing: it still completes.
    const bob = await open();
    const [bobOnAlice] = await Promise.all([first.done, bob.accept(first.code)]);
    expect(alice.contacts().map((c) => c.id)).toEqual([bobOnAlice.id]);
    await Promise.all([alice.close(), bob.close()]);
  });

  it('cancel and an aborted signal reject with AbortedError and free the slot; a bad code is a BadCodeError', async () => {
    const alice = await open();
    const first = await alice.invite();
    first.cancel();
    await expect(first.done).rejects.toBeInstanceOf(AbortedError);
    expect(alice.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    const controller = new AbortController();
    const second = await alice.invite({ signal: controller.signal });
    controller.abort();
    await expect(second.done).rejects.toBeInstanceOf(AbortedError);
    await expect(alice.invite({ signal: controller.signal })).rejects.toBeInstanceOf(AbortedError);
    await expect(alice.accept('not a code')).rejects.toBeInstanceOf(BadCodeError);
    expect(alice.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    await alice.close();
  });

  it('an invite with refreshMs shows its code and remaining time in the snapshot; a too short period is refused', async () => {
    let skew = 0; // the host's clock, moved by the test: timers stay real
    const clock = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout, now: () => Date.now() + skew } as BackchannelOptions['clock'];
    const alice = await open(dirs.make(), { clock });
    await expect(alice.invite({ refreshMs: 10 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const seen: [string, number | undefined][] = [];
    const invite = await alice.invite({ refreshMs: 60_000, onCode: (code, expiresAt) => seen.push([code, expiresAt]) });
    expect(seen).toEqual([[invite.code, invite.expiresAt]]);
    const shown = alice.getSnapshot().invite!;
    expect(shown.code).toBe(invite.code);
    expect(shown.expiresAt).toBe(invite.expiresAt);
    expect(shown.remainingMs).toBeGreaterThan(0);
    expect(shown.remainingMs).toBeLessThanOrEqual(60_000);
    skew = 45_000;
    expect(alice.getSnapshot().invite!.remainingMs).toBeLessThanOrEqual(15_000);
    invite.cancel();
    await expect(invite.done).rejects.toBeInstanceOf(AbortedError);
    expect(alice.getSnapshot().invite).toBeUndefined();
    // Without refreshMs the snapshot shows the code, with no lifetime.
    const plain = await alice.invite();
    expect(alice.getSnapshot().invite).toEqual({ code: plain.code });
    plain.cancel();
    await expect(plain.done).rejects.toBeInstanceOf(AbortedError);
    await alice.close();
  });

  it('clear all data: contacts, channels, files, settings and the journal go; the device keeps its id and key', async () => {
    const dir = dirs.make();
    const [alice, bob] = await Promise.all([open(dir), open()]);
    const [bobOnAlice] = await pairUp(alice, bob);
    await alice.send(bobOnAlice.id, { text: 'before the wipe' });
    await alice.send(bobOnAlice.id, { file: { data: new Blob([new Uint8Array(3000).fill(5)]), filename: 'kept.bin', mimetype: 'application/octet-stream' } });
    const publicKey = alice.publicKey;
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['docs', 'files', 'fileIndex', 'journal', 'system']));
    await alice.clearAllData();
    await expect(alice.send(bobOnAlice.id, { text: 'x' })).rejects.toBeInstanceOf(ClosedError);
    expect(readdirSync(dir)).toEqual(['system']);
    const again = await open(dir);
    expect(again.firstStart).toBe(false); // the same device
    expect(again.publicKey).toBe(publicKey);
    expect(again.contacts()).toEqual([]);
    await Promise.all([again.close(), bob.close()]);
  });

  it('offline stops the links and presence goes; what is written meanwhile syncs once back online', async () => {
    const [alice, bob] = await Promise.all([open(), open()]);
    const presence: BackchannelEvent[] = [];
    alice.subscribe((e) => e.type === 'presence' && presence.push(e));
    const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
    await until(() => alice.presence(bobOnAlice.id) !== undefined && bob.presence(aliceOnBob.id) !== undefined);
    // The event follows once Bob's last_seen is saved, and carries it.
    await until(() => presence.length > 0);
    expect(presence.at(-1)).toEqual({ type: 'presence', contactId: bobOnAlice.id, via: 'relayed', lastSeen: expect.any(Number) });
    expect(alice.relayStatus).toBe('reachable');

    alice.goOffline();
    expect(alice.online).toBe(false);
    expect(alice.presence(bobOnAlice.id)).toBeUndefined();
    expect(presence.at(-1)).toMatchObject({ type: 'presence', contactId: bobOnAlice.id, via: undefined });
    await alice.send(bobOnAlice.id, { text: 'written offline' });
    const atBob = nextMessage(bob, true);
    alice.goOnline();
    expect((await atBob).message.text).toBe('written offline');
    await Promise.all([alice.close(), bob.close()]);
  });

  it('a new relay in Settings restarts both links on it; the journal of it all replays to the running machines', async () => {
    const watcher = rootWatcher();
    const alice = await open(dirs.make());
    tap.raw = undefined;
    const bob = await open();
    const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob);
    const relay2 = await startRelay();
    try {
      await Promise.all([alice.updateSettings({ relay_server: relay2.url }), bob.updateSettings({ relay_server: relay2.url })]);
      expect(alice.settings().relay_server).toBe(relay2.url);
      await expect(alice.updateSettings({ relay_server: 'http://nope' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await until(() => relay2.discovery.connectionCount >= 2 && alice.presence(bobOnAlice.id) !== undefined);
      const again = nextMessage(alice, true);
      await bob.send(aliceOnBob.id, { text: 'via the new relay' });
      expect((await again).message.text).toBe('via the new relay');

      // Real sockets, real sync: every running machine (app, link, DISCOVER, SYNC) equals its replay.
      // Retried while background traffic settles between read and compare.
      let last = { compared: 0, diffs: ['not compared'] };
      await until(async () => {
        last = await replayDiff(alice.journal!, watcher.root());
        return last.diffs.length === 0;
      }, 10_000).catch(() => {});
      expect(last.diffs).toEqual([]);
      expect(last.compared).toBeGreaterThanOrEqual(4); // app, link, discover, sync
    } finally {
      await Promise.all([alice.close(), bob.close()]);
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
    await expect(open(dirs.make(), { relay: 'http://x' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('needs a relay: none given and none saved is an InvalidArgumentError; once saved, it is the default', async () => {
    const dir = dirs.make();
    const error = await open(dir, { relay: undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/backchannel relay/);
    const first = await open(dir);
    await first.close();
    const again = await open(dir, { relay: undefined });
    expect(again.settings().relay_server).toBe(relay.url);
    await again.close();
  });
});
