/**
 * The event journal: replay ≡ live. fast-check drives the app machine (with its contact links) through
 * random sequences of user commands and effect outcomes — invites, accepts, cancels, codes, verified
 * keys, failures, contacts coming and going, renames, removals, messages, offline/online, settings, the
 * relay check's verdict — with a real Database on memory
 * storage and a journal that compacts at random sizes. Afterwards, every actor rebuilt by `replay()`
 * from the stored journal has the live actor's state value, context and status. The journal never
 * holds a code, a key or a message in clear.
 */
import fc from 'fast-check';
import { assign, createActor, fromCallback, sendParent, setup, SimulatedClock, type AnyActorRef, type AnyEventObject } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toBase64, toHex } from '../src/crypto/bytes.js';
import { documentId } from '../src/db/database.js';
import { BARE_READERS_PROBLEM } from '../src/depot/wire.js';
import { AbortedError, RelayUnsupportedError, TimeoutError, type BackchannelError } from '../src/errors.js';
import { Journal, JOURNAL_KEY } from '../src/journal/journal.js';
import { BACKCHANNEL_MACHINES, replay, stateOf } from '../src/journal/replay.js';
import { pairingMachine, type PairingAnnouncement } from '../src/machines/pairingMachine.js';
import { deriveContactKey } from '../src/crypto/keys.js';
import { appMachine, linkId, RELAY_CHECK_ID } from '../src/machines/appMachine.js';
import { appActors, backchannelApp } from '../src/app/actors.js';
import { contactLinkMachine } from '../src/machines/contactLinkMachine.js';
import { liveAt } from './helpers/actors.js';
import { FC_RUNS } from './helpers/runs.js';
import { budgetMs } from './helpers/branches.js';

type Command =
  | { t: 'invite' | 'accept'; moniker: string; refresh?: boolean }
  /** Time passes (SimulatedClock): a refreshing invite renews its code. */
  | { t: 'tick' }
  /** A message of the contact's arrived (the façade tells the app): its last_seen is written. */
  | { t: 'heard'; contact: number }
  | { t: 'cancel' | 'offline' | 'online' | 'fail' | 'settle' }
  | { t: 'code'; n: number }
  | { t: 'verified'; key: Uint8Array }
  | { t: 'settings'; relay: number }
  | { t: 'link'; contact: number; up: boolean; direct: boolean }
  | { t: 'remove'; contact: number }
  | { t: 'rename'; contact: number; moniker: string }
  | { t: 'message'; contact: number; text: string }
  | { t: 'relayCheck'; supported: boolean }
  | { t: 'depot'; contact: number; what: 'up' | 'down' | 'deposited' | 'refused' | 'bareReaders' }
  /** A burst of sync messages bringing new heads: the link hears `link.synced` for each. */
  | { t: 'synced'; contact: number; burst: number };

// Weighted so runs reach the interesting states: pairings that complete, contacts that connect.
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constantFrom('invite' as const, 'accept' as const), moniker: fc.string({ maxLength: 8 }), refresh: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('heard' as const), contact: fc.nat({ max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('cancel' as const, 'offline' as const, 'online' as const, 'fail' as const) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('settle' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('code' as const), n: fc.nat({ max: 999 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('verified' as const), key: fc.uint8Array({ minLength: 32, maxLength: 32 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('settings' as const), relay: fc.nat({ max: 2 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('link' as const), contact: fc.nat({ max: 5 }), up: fc.boolean(), direct: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('remove' as const), contact: fc.nat({ max: 5 }) }) },
  // Out of range (a contact that is not there) is a failed request: answered, and replayed like the rest.
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rename' as const), contact: fc.nat({ max: 5 }), moniker: fc.string({ maxLength: 8 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('message' as const), contact: fc.nat({ max: 5 }), text: fc.string({ maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('relayCheck' as const), supported: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('depot' as const),
      contact: fc.nat({ max: 5 }),
      what: fc.constantFrom('up' as const, 'down' as const, 'deposited' as const, 'refused' as const, 'bareReaders' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('synced' as const), contact: fc.nat({ max: 5 }), burst: fc.integer({ min: 1, max: 20 }) }) },
);

class FakeChannel {}
const REFRESH_MS = 60_000;
const settle = () => new Promise((r) => setImmediate(r));

/**
 * A stand-in for the wormhole under the real pairing machine: the test makes it report (`test.say`)
 * and end (`test.end`); it ends by itself on CLOSE or ABORT, as the real one does.
 */
const fakeWormhole = setup({
  types: {
    events: {} as { type: 'test.say'; event: AnyEventObject } | { type: 'test.end'; error: BackchannelError } | { type: 'CLOSE' | 'ABORT' | 'SEND' },
    context: {} as { error?: BackchannelError; mood: string },
  },
}).createMachine({
  id: 'fakeWormhole',
  context: { mood: 'lonely' },
  initial: 'running',
  states: {
    running: {
      on: {
        'test.say': { actions: sendParent(({ event }) => event.event) },
        'test.end': { target: 'ended', actions: assign({ error: ({ event }) => event.error, mood: 'errory' }) },
        CLOSE: { target: 'ended', actions: assign({ mood: 'happy' }) },
        ABORT: { target: 'ended', actions: assign({ error: () => new AbortedError() }) },
      },
    },
    ended: { type: 'final' },
  },
  output: ({ context }) => ({ mood: context.mood, error: context.error }),
});
const MACHINES = { ...BACKCHANNEL_MACHINES, fakeWormhole };

/** The app machine with its effects replaced by handles the test drives. */
function harness() {
  type SendBack = (e: AnyEventObject) => void;
  const links = new Map<string, SendBack>();
  const depots = new Map<string, SendBack>();
  const checks = new Set<SendBack>();
  const machine = appMachine.provide({
    actors: {
      ...appActors,
      relayCheck: fromCallback(({ sendBack }) => {
        checks.add(sendBack);
        return () => checks.delete(sendBack);
      }) as never,
      pairing: pairingMachine.provide({
        actions: { announce: sendParent((_, params: PairingAnnouncement) => params) },
        actors: { wormhole: fakeWormhole as never },
      }),
      contactLink: contactLinkMachine.provide({
        // Callback actors stand in for DISCOVER, SYNC and the file session: the test sends what they would.
        actors: {
          discover: fromCallback(({ sendBack, input }) => {
            const key = toHex((input as { contactKey: Uint8Array }).contactKey);
            links.set(key, sendBack);
            return () => links.delete(key);
          }),
          depot: fromCallback(({ sendBack, input }) => {
            const key = toHex((input as { contactKey: Uint8Array }).contactKey);
            depots.set(key, sendBack);
            return () => depots.get(key) === sendBack && depots.delete(key);
          }),
          sync: fromCallback(() => () => {}),
          files: fromCallback(() => () => {}),
        } as never,
      }),
    },
  });
  return { machine, links, depots, checks };
}

/** Memory storage whose journal segment writes fail while `failing` is set (a full or broken disk). */
class FlakyStorage extends MemoryStorage {
  failing = false;
  override async save(key: string[], data: Uint8Array): Promise<void> {
    if (this.failing && key[0] === 'journal' && key[1] === 'seg') throw new Error('disk full');
    return super.save(key, data);
  }
}

async function run(commands: Command[], maxRecords: number, storage: MemoryStorage = new MemoryStorage(), between?: (i: number) => void) {
  const journal = await Journal.open({ storage, maxRecords, flushMs: 5 });
  const { machine, links, depots, checks } = harness();
  let req = 0;
  /** Make the wormhole under the running pairing report `event`, if a pairing is running. */
  const wormholeSays = (event: AnyEventObject) => {
    const pairing = app.getSnapshot().children.pairing as AnyActorRef | undefined;
    (pairing?.getSnapshot() as { children: Record<string, AnyActorRef> } | undefined)?.children.wormhole?.send({ type: 'test.say', event });
  };
  const wormholeEnds = (error: BackchannelError) => {
    const pairing = app.getSnapshot().children.pairing as AnyActorRef | undefined;
    (pairing?.getSnapshot() as { children: Record<string, AnyActorRef> } | undefined)?.children.wormhole?.send({ type: 'test.end', error });
  };
  // Time moves only on `tick`: invites that renew their code do so then.
  const clock = new SimulatedClock();
  const app = createActor(machine, {
    input: {
      storage,
      connector: () => ({ send() {}, close() {} }),
      randomBytes: (n) => new Uint8Array(n),
      appid: 'test',
      relay: 'ws://relay.test:4000/v1',
      clock,
    },
    inspect: journal.observe,
    clock,
  });
  /** The machine's answers to the write requests, by type: the property must reach them. */
  const answers: Record<string, number> = {};
  for (const type of ['contact.renamed', 'contact.removed', 'contact.failed', 'message.sent', 'message.failed', 'settings.updated'] as const) {
    app.on(type, () => (answers[type] = (answers[type] ?? 0) + 1));
  }
  // Codes of invites that renew them, and renewals begun: the property must reach those states too.
  app.on('pairing.code', (e) => e.lifetimeMs !== undefined && (answers['pairing.code (renewing)'] = (answers['pairing.code (renewing)'] ?? 0) + 1));
  app.subscribe((s) => s.matches({ ready: { pairing: { inviting: 'refreshing' } } }) && (answers['refreshing'] = (answers['refreshing'] ?? 0) + 1));
  app.on('contact.seen', () => (answers['contact.seen'] = (answers['contact.seen'] ?? 0) + 1));
  app.on('relayOutdated', () => (answers['relayOutdated'] = (answers['relayOutdated'] ?? 0) + 1));
  app.start();
  await new Promise<void>((resolve) => app.subscribe((s) => !s.matches('starting') && resolve()));
  const keys: Uint8Array[] = [];
  for (const [i, c] of commands.entries()) {
    between?.(i);
    const db = app.getSnapshot().context.db!;
    switch (c.t) {
      case 'invite':
        app.send({ type: 'pairing.invite', req: ++req, moniker: c.moniker, ...(c.refresh ? { refreshMs: REFRESH_MS } : {}) });
        break;
      case 'accept':
        app.send({ type: 'pairing.accept', req: ++req, code: '7-guitarist-revenge', moniker: c.moniker });
        break;
      case 'cancel':
        app.send({ type: 'pairing.cancel' });
        break;
      case 'offline':
      case 'online':
        app.send({ type: `network.${c.t}` });
        break;
      case 'fail':
        wormholeEnds(new TimeoutError('no answer', { phase: 'test', ms: 1 }));
        break;
      case 'settle':
        await settle();
        break;
      case 'tick':
        clock.increment(REFRESH_MS);
        break;
      case 'heard':
        app.send({ type: 'contact.heard', contactId: db.contacts()[c.contact]?.id ?? 'nobody' });
        break;
      case 'code':
        wormholeSays({ type: 'wormhole.code', code: `${c.n}-guitarist-revenge`, nameplate: String(c.n) });
        wormholeSays({ type: 'wormhole.stored' }); // the code is shown once the relay holds our PAKE message
        break;
      case 'verified':
        // The whole of VERIFY's good end: both PAKE messages, key confirmation, the peer's `paired`.
        keys.push(c.key);
        wormholeSays({ type: 'wormhole.key', key: c.key });
        wormholeSays({ type: 'wormhole.verified', key: c.key, verifier: c.key.subarray(0, 8), versions: {} });
        wormholeSays({ type: 'wormhole.message', phase: 0, plaintext: new TextEncoder().encode('{"paired":1}') });
        break;
      case 'settings':
        app.send({ type: 'settings.update', req: ++req, patch: { relay_server: `ws://relay${c.relay}.test:4000/v1` } });
        break;
      case 'link': {
        const contact = db.contacts()[c.contact];
        const send = contact && links.get(contact.channels[0]!);
        if (send)
          send(
            // Two of the contact's devices (`direct` names which): each its own channel, replayed per peer.
            c.up
              ? { type: 'link.connected', peer: c.direct ? 'p1' : 'p2', channel: new FakeChannel(), via: c.direct ? 'direct' : 'relayed' }
              : { type: 'link.disconnected', peer: c.direct ? 'p1' : 'p2', reason: 'test' },
          );
        break;
      }
      case 'depot': {
        const contact = db.contacts()[c.contact];
        const send = contact && depots.get(contact.channels[0]!);
        if (!send) break;
        if (c.what === 'up' || c.what === 'down') send({ type: 'link.relay', up: c.what === 'up' });
        else if (c.what === 'deposited') send({ type: 'link.deposited', heads: [] });
        // A relay from before reader tokens: the app keeps the warning (an error) in its context, which replay restores.
        else if (c.what === 'bareReaders') send({ type: 'link.bareReaders', reason: BARE_READERS_PROBLEM });
        else send({ type: 'link.refused', reason: 'depot full for this topic (3 deposits)' });
        break;
      }
      case 'synced': {
        // What the link's SYNC child tells it as each message of the burst arrives (the depot's handle reaches the same link).
        const contact = db.contacts()[c.contact] ?? db.leavingContacts()[0];
        const send = contact && depots.get(contact.channels[0]!);
        for (let n = 0; send && n < c.burst; n++) send({ type: 'link.synced', heads: [toHex(new Uint8Array(32).fill(n))] });
        break;
      }
      // Every write is a request to the machine (its answer is awaited only by `settle`).
      case 'remove':
        app.send({ type: 'contact.remove', req: ++req, contactId: db.contacts()[c.contact]?.id ?? 'nobody' });
        break;
      case 'rename':
        app.send({ type: 'contact.rename', req: ++req, contactId: db.contacts()[c.contact]?.id ?? 'nobody', moniker: c.moniker });
        break;
      case 'message':
        app.send({ type: 'message.send', req: ++req, contactId: db.contacts()[c.contact]?.id ?? 'nobody', message: { text: c.text } });
        break;
      case 'relayCheck':
        for (const send of checks)
          send(c.supported ? { type: 'relay.checked' } : { type: 'relay.checked', unsupported: new RelayUnsupportedError('ws://relay.test:4000/v1', 'test') });
        break;
    }
  }
  await settle();
  await settle();
  const replayed = await replay(journal, MACHINES);
  return { app, replayed, journal, storage, keys, answers };
}

describe('event journal', () => {
  it(
    'replay rebuilds every actor exactly as it ran live (random commands, random compaction)',
    async () => {
      const stats = { actors: 0, events: 0, compacted: 0, answers: {} as Record<string, number> };
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 150, size: 'max' }), fc.integer({ min: 5, max: 200 }), async (commands, maxRecords) => {
          const { app, replayed, journal, answers } = await run(commands, maxRecords);
          for (const [type, n] of Object.entries(answers)) stats.answers[type] = (stats.answers[type] ?? 0) + n;
          try {
            const running = replayed.filter((r) => !r.ended && r.machine);
            expect(running.map((r) => r.failure).filter(Boolean)).toEqual([]);
            // Every running machine actor is in the journal, and equal to its replay.
            const app_ = running.find((r) => r.path === 'app');
            expect(app_).toBeDefined();
            const linksLive = Object.keys(app.getSnapshot().children).filter((id) => id.startsWith('link-'));
            expect(
              running
                .filter((r) => r.machine === 'contactLink')
                .map((r) => r.path.split('/')[1])
                .sort(),
            ).toEqual(linksLive.sort());
            for (const r of running) {
              const live = liveAt(app, r.path);
              expect(live, r.path).toBeDefined();
              expect(stateOf(r.snapshot!), r.path).toBe(stateOf(live!.getSnapshot()));
            }
            stats.actors += running.length;
            stats.events += (await journal.records()).filter((x) => x.k === 'event').length;
            if ((await journal.records()).some((x) => x.k === 'checkpoint')) stats.compacted++;
          } finally {
            app.stop();
          }
        }),
        { numRuns: Math.max(60, Math.floor(FC_RUNS / 2)) },
      );
      console.log(`journal property: ${stats.actors} actors compared, ${stats.events} events replayed, ${stats.compacted} runs replayed from a checkpoint`);
      console.log(`journal property: the app answered ${JSON.stringify(stats.answers)}`);
      expect(stats.compacted).toBeGreaterThan(0);
      for (const type of [
        'contact.renamed',
        'contact.removed',
        'message.sent',
        'message.failed',
        'settings.updated',
        'pairing.code (renewing)',
        'refreshing',
        'contact.seen',
      ])
        expect(stats.answers[type] ?? 0, type).toBeGreaterThan(0);
    },
    budgetMs(Math.max(60, Math.floor(FC_RUNS / 2)), 400),
  );

  it('a burst of sync messages bringing new heads journals a bounded number of records, and replay still matches', async () => {
    const key = new Uint8Array(32).fill(7);
    const burst = 500;
    const { app, replayed, journal } = await run(
      [{ t: 'accept', moniker: 'Bob' }, { t: 'verified', key }, { t: 'settle' }, { t: 'settle' }, { t: 'synced', contact: 0, burst }, { t: 'settle' }],
      100_000,
    );
    try {
      expect(app.getSnapshot().context.db!.contacts()).toHaveLength(1);
      const records = await journal.records();
      const synced = records.filter((r) => r.k === 'event' && ['link.synced', 'contact.synced'].includes(r.event.type));
      // Each of them left the link's and the app's snapshot as it was (the app waits on it only for a contact I removed).
      expect(synced.length).toBeLessThanOrEqual(2);
      expect(records.length).toBeLessThan(burst);
      for (const r of replayed.filter((x) => !x.ended && x.machine)) expect(stateOf(r.snapshot!), r.path).toBe(stateOf(liveAt(app, r.path)!.getSnapshot()));
    } finally {
      app.stop();
    }
  });

  it('stays bounded while storage fails, then checkpoints, and replay is exact again', async () => {
    const storage = new FlakyStorage();
    const commands: Command[] = [
      { t: 'invite', moniker: 'Bob' },
      { t: 'code', n: 12 },
      { t: 'verified', key: new Uint8Array(32).fill(7) },
      { t: 'settle' },
      ...Array.from({ length: 200 }, (_, i): Command => (i % 20 === 19 ? { t: 'settle' } : { t: 'link', contact: 0, up: i % 2 === 0, direct: true })),
    ];
    // Segment writes fail from the 10th command to the 150th: far more records than maxRecords.
    const { app, replayed, journal } = await run(commands, 30, storage, (i) => (storage.failing = i >= 10 && i < 150));
    try {
      expect(journal.dropped).toBeGreaterThan(30);
      expect(journal.size).toBeLessThan(30 + 64);
      const running = replayed.filter((r) => !r.ended && r.machine);
      expect(running.some((r) => r.machine === 'contactLink')).toBe(true);
      expect(running.map((r) => r.path).sort()).toEqual(
        [
          'app',
          ...Object.keys(app.getSnapshot().children)
            .filter((id) => id !== RELAY_CHECK_ID)
            .map((id) => `app/${id}`),
        ].sort(),
      );
      for (const r of running) expect(stateOf(r.snapshot!), r.path).toBe(stateOf(liveAt(app, r.path)!.getSnapshot()));
    } finally {
      app.stop();
    }
  });

  it('holds no code, key or text in clear; stays bounded; a reopened journal continues', async () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i + 100);
    const commands: Command[] = [
      { t: 'invite', moniker: 'Bob' },
      { t: 'code', n: 42 },
      { t: 'verified', key },
      { t: 'settle' },
      { t: 'message', contact: 0, text: 'secret words in a message' },
      { t: 'settle' },
      ...Array.from({ length: 300 }, (_, i): Command => ({ t: 'link', contact: 0, up: i % 2 === 0, direct: false })),
    ];
    const { app, replayed, storage, journal } = await run(commands, 100);
    const stored = (await storage.loadRange(['journal', 'seg'])).map((c) => new TextDecoder().decode(c.data)).join('\n');
    const contactKey = deriveContactKey(key);
    expect(
      app
        .getSnapshot()
        .context.db!.messages(app.getSnapshot().context.db!.channelOf(app.getSnapshot().context.db!.contacts()[0]!))
        .map((m) => m.text),
    ).toEqual(['secret words in a message']);
    for (const secret of [
      'secret words in a message',
      '42-guitarist-revenge',
      'guitarist-revenge',
      toHex(key),
      toBase64(key),
      toHex(contactKey),
      toBase64(contactKey),
    ]) {
      expect(stored).not.toContain(secret);
    }
    // 300 link events, far over maxRecords: compaction kept the journal small.
    expect(journal.size).toBeLessThan(100 + 64);
    const contactId = app.getSnapshot().context.db!.contacts()[0]!.id;
    expect(replayed.find((r) => r.path === `app/${linkId(contactId)}`)).toBeDefined();
    expect(documentId(contactKey)).toBe(app.getSnapshot().context.db!.channelOf(app.getSnapshot().context.db!.contacts()[0]!));
    await journal.close();
    const reopened = await Journal.open({ storage });
    const before = (await reopened.records()).at(-1)!.seq;
    const again = createActor(backchannelApp, {
      input: { storage, connector: () => ({ send() {}, close() {} }), randomBytes: (n) => new Uint8Array(n), appid: 'test' },
      inspect: reopened.observe,
    });
    again.start();
    await reopened.flush();
    expect((await reopened.records()).at(-1)!.seq).toBeGreaterThan(before);
    again.stop();
    app.stop();
    // A damaged key: the old segments can never be opened again, so the journal starts afresh.
    await reopened.close();
    await storage.save(JOURNAL_KEY, Uint8Array.of(1, 2, 3));
    expect(await (await Journal.open({ storage })).records()).toEqual([]);
  });
});
