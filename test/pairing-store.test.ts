/**
 * The pairing store's bounds and expiry, the same script against both stores (MemoryMailboxStore and
 * RedisMailboxStore on a real redis-server), driven through the protocol server with an injected
 * clock: what a client sends is counted (phase, side and ids as well as the body), every name has a
 * length cap, one byte budget covers every appid, and a mailbox lives out its TTL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { openPersistentStore } from '../server/pairingPersistence.js';
import { silentLogger } from '../server/log.js';
import { tempDirs } from './helpers/wait.js';
import { DEFAULT_LIMITS, type RelayLimits } from '../server/limits.js';
import { MailboxServer } from '../server/mailboxServer.js';
import { RedisMailboxStore } from '../server/redisMailboxStore.js';
import { MemoryMailboxStore, type MailboxStore } from '../server/store.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
const dirs = tempDirs('bc-pairing-store-');
afterAll(async () => {
  await redis?.stop();
  dirs.removeAll();
});

let namespaces = 0;
const STORES: [string, (limits: RelayLimits) => MailboxStore][] = [
  ['MemoryMailboxStore', (limits) => new MemoryMailboxStore({ limits, randomBytes: cryptoRandomBytes })],
  [
    'RedisMailboxStore',
    (limits) =>
      new RedisMailboxStore({
        redis: redis.client(),
        subscriber: redis.client(),
        limits,
        randomBytes: cryptoRandomBytes,
        relayId: 'r',
        namespace: `ps${namespaces++}`,
      }),
  ],
];

type Frame = Record<string, unknown>;

/** A protocol server on `store`, its clock, and clients that wait for replies (no sleeps). */
function harness(makeStore: (limits: RelayLimits) => MailboxStore, overrides: Partial<RelayLimits> = {}) {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  const clock = { now: 1_700_000_000_000 };
  const store = makeStore(limits);
  const server = new MailboxServer({ store, limits, now: () => clock.now });
  let pings = 0;
  function client(address = 'a') {
    const frames: Frame[] = [];
    const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
    const handle = server.connect({
      address,
      send: (text) => {
        const f = JSON.parse(text) as Frame;
        frames.push(f);
        for (const w of [...waiters]) if (w.match(f)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(f);
      },
      close: () => {},
    });
    /** Send `frame`; resolve with what came back for it (its replies end at the ping sent after it). */
    async function send(frame: Frame): Promise<Frame[]> {
      const from = frames.length;
      const mark = ++pings;
      const done = new Promise<Frame>((resolve) => waiters.push({ match: (f) => f.type === 'pong' && f.pong === mark, resolve }));
      handle.receive(JSON.stringify(frame));
      handle.receive(JSON.stringify({ type: 'ping', ping: mark }));
      await done;
      return frames.slice(from).filter((f) => f.type !== 'ack' && f.type !== 'pong');
    }
    return { send, frames, close: () => handle.closed() };
  }
  return { server, store, clock, client, limits };
}

const errorOf = (replies: Frame[]) => replies.find((f) => f.type === 'error');

describe.each(STORES)('%s', (_name, makeStore) => {
  it('allocates a nameplate freed in the last minute only when no other of its length is free', async () => {
    const store = makeStore(DEFAULT_LIMITS);
    const now = 1_700_000_000_000;
    // Without the preference, 40 allocations in a row each avoid the one just freed with p = (8/9)^40 < 1%.
    let last = await store.allocateNameplate('app', 'side0', now);
    for (let i = 1; i <= 40; i++) {
      await store.releaseNameplate('app', last, `side${i - 1}`, now + i);
      const next = await store.allocateNameplate('app', `side${i}`, now + i);
      expect(next, `round ${i}`).not.toBe(last);
      last = next;
    }
    await store.releaseNameplate('app', last, 'side40', now + 41);
    // Every one-digit nameplate was freed within the minute: the one freed longest ago comes next (never refused, never longer).
    const again = await store.allocateNameplate('app', 'late', now + 42);
    expect(again).toMatch(/^[1-9]$/);
    expect(again).not.toBe(last);
    // A minute on, none is held back.
    await store.releaseNameplate('app', again, 'late', now + 43);
    const seen = new Set<string>();
    for (let i = 0; i < 9; i++) seen.add(await store.allocateNameplate('app', `later${i}`, now + 120_000));
    expect([...seen].sort()).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9']);
    await store.close?.();
  });

  it('keeps a claimed mailbox nobody listens to for its whole TTL, and expires it after', async () => {
    const { server, clock, client, limits } = harness(makeStore);
    const a = client();
    await a.send({ type: 'bind', appid: 'app', side: 's1' });
    expect((await a.send({ type: 'claim', nameplate: '4' }))[0]).toMatchObject({ type: 'claimed' });
    a.close(); // no listener left
    clock.now += limits.mailboxTtlMs - 60_000; // a minute before the TTL ends
    expect(await server.prune()).toBe(0);
    const b = client();
    await b.send({ type: 'bind', appid: 'app', side: 's2' });
    expect((await b.send({ type: 'list' }))[0]).toMatchObject({ nameplates: [{ id: '4' }] });
    clock.now += 120_000; // a minute past it
    expect(await server.prune()).toBe(1);
    const c = client();
    await c.send({ type: 'bind', appid: 'app', side: 's3' });
    expect((await c.send({ type: 'list' }))[0]).toMatchObject({ nameplates: [] });
  });

  it('counts phases (and sides and ids) against the mailbox, not only bodies', async () => {
    const { client, store } = harness(makeStore, { maxMailboxBytes: 4_000, maxNameChars: 10_000 });
    const a = client();
    await a.send({ type: 'bind', appid: 'app', side: 's1' });
    const [claimed] = await a.send({ type: 'claim', nameplate: '1' });
    await a.send({ type: 'open', mailbox: claimed!.mailbox });
    const phase = 'p'.repeat(1_500);
    expect(errorOf(await a.send({ type: 'add', phase: `${phase}1`, body: '00' }))).toBeUndefined();
    expect(errorOf(await a.send({ type: 'add', phase: `${phase}2`, body: '00' }))).toBeUndefined();
    const refused = errorOf(await a.send({ type: 'add', phase: `${phase}3`, body: '00' }));
    expect(refused).toMatchObject({ type: 'error', error: 'mailbox is full (4000 bytes)', orig: { type: 'add', body: '00' } });
    const { bytes } = await store.stats();
    expect(bytes).toBeGreaterThan(3_000);
    expect(bytes).toBeLessThanOrEqual(4_000 + 400); // the mailbox, plus its nameplate record
  });

  it('caps every name a client chooses (appid, nameplate, mailbox, phase) with a typed error frame', async () => {
    const { client } = harness(makeStore);
    const long = 'x'.repeat(DEFAULT_LIMITS.maxNameChars + 1);
    const a = client();
    expect(errorOf(await a.send({ type: 'bind', appid: long, side: 's' }))).toMatchObject({
      error: `'appid' must be a string of at most ${DEFAULT_LIMITS.maxNameChars} characters`,
      orig: { type: 'bind' },
    });
    await a.send({ type: 'bind', appid: 'app', side: 's' });
    expect(errorOf(await a.send({ type: 'claim', nameplate: long }))!.error).toMatch(/^'nameplate' must be a string of at most/);
    expect(errorOf(await a.send({ type: 'open', mailbox: long }))!.error).toMatch(/^'mailbox' must be a string of at most/);
    await a.send({ type: 'open', mailbox: 'mb' });
    expect(errorOf(await a.send({ type: 'add', phase: long, body: '00' }))!.error).toMatch(/^'phase' must be a string of at most/);
  });

  it('holds one byte budget over every appid, and gives every byte back when mailboxes close', async () => {
    const { client, store } = harness(makeStore, { maxStoreBytes: 20_000, maxBytesPerAddress: 1e9 });
    const opened: ReturnType<typeof client>[] = [];
    let refused: Frame | undefined;
    // Each client invents an appid: per-appid caps alone would multiply with them.
    for (let i = 0; i < 40 && !refused; i++) {
      const c = client();
      opened.push(c);
      await c.send({ type: 'bind', appid: `app-${i}`, side: 's' });
      refused = errorOf(await c.send({ type: 'open', mailbox: 'mb' }));
      refused ??= errorOf(await c.send({ type: 'add', phase: 'x', body: 'ab'.repeat(1_000) }));
    }
    expect(refused).toMatchObject({ type: 'error', error: 'the relay is full, try later' });
    expect((await store.stats()).bytes).toBeLessThanOrEqual(20_000);
    for (const c of opened) await c.send({ type: 'close', mood: 'happy' });
    expect(await store.stats()).toMatchObject({ mailboxes: 0, nameplates: 0, bytes: 0 });
  });

  it('limits how many appids exist at once', async () => {
    const { client } = harness(makeStore, { maxAppids: 3 });
    const errors: (Frame | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const c = client();
      await c.send({ type: 'bind', appid: `app-${i}`, side: 's' });
      errors.push(errorOf(await c.send({ type: 'claim', nameplate: '1' })));
    }
    expect(errors.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(errors[3]).toMatchObject({ error: 'too many appids in use, try later' });
  });

  it('leaves no empty appid behind when it refuses (so refusals cannot fill the appid quota)', async () => {
    const { client, store } = harness(makeStore, { maxStoreBytes: 50 });
    for (let i = 0; i < 3; i++) {
      const c = client();
      await c.send({ type: 'bind', appid: `app-${i}`, side: 's' });
      expect(errorOf(await c.send({ type: 'open', mailbox: 'mb' }))).toMatchObject({ error: 'the relay is full, try later' });
    }
    expect(await store.stats()).toEqual({ appids: 0, nameplates: 0, mailboxes: 0, bytes: 0 });
  });
});

describe('the memory store kept in a data directory', () => {
  it('comes back after a restart as it was: nameplates, mailboxes, messages in order, byte count; deleted ones stay deleted', async () => {
    const dir = dirs.make();
    const open = () => openPersistentStore(new NodeFsStorage(dir), { limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes }, silentLogger);
    const first = await open();
    const s = first.store;
    const mailbox = await s.claimNameplate('app/with:odd chars', '12', 'alice', 1_000);
    await s.claimNameplate('app/with:odd chars', '12', 'bob', 2_000);
    for (let i = 0; i < 5; i++)
      await s.addMessage('app/with:odd chars', mailbox, { side: 'alice', phase: String(i), body: `0${i}`, server_rx: 3, msg_id: `id${i}` }, 3_000 + i);
    const gone = await s.claimNameplate('other', '3', 'carol', 1_000);
    await s.releaseNameplate('other', '3', 'carol', 1_500);
    await s.closeMailbox('other', gone, 'carol', 'lonely');
    const before = await s.stats();
    await first.flush();

    const second = await open();
    // (An appid left empty is forgotten: it would go at the next prune anyway.)
    const { appids: _, ...held } = before;
    expect(await second.store.stats()).toMatchObject(held);
    expect(before).toMatchObject({ nameplates: 1, mailboxes: 1 });
    expect((await second.store.openMailbox('app/with:odd chars', mailbox, 'bob', 4_000)).map((m) => [m.phase, m.body, m.msg_id])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [String(i), `0${i}`, `id${i}`]),
    );
    // Alice comes back on the same side: her claim still holds the same mailbox.
    expect(await second.store.claimNameplate('app/with:odd chars', '12', 'alice', 5_000)).toBe(mailbox);
    expect(await second.store.listNameplates('other')).toEqual([]);
  });
});
