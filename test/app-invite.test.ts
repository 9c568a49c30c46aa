/**
 * An invite with a visible lifetime, in the app machine on XState's SimulatedClock: the real pairing
 * machine runs with a stand-in wormhole the test drives (`.provide()`), so time moves only when the
 * test says. The code is renewed every `refreshMs` (the old wormhole is aborted: it releases its
 * nameplate and closes its mailbox) until someone answers it; a cancel during a renewal ends the
 * invite; without `refreshMs` one code stays. The journal replays every state of it.
 */
import { assign, createActor, fromCallback, sendParent, setup, SimulatedClock, waitFor, type AnyActorRef, type AnyEventObject } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { AbortedError, type BackchannelError } from '../src/errors.js';
import { Journal } from '../src/journal/journal.js';
import { appActors } from '../src/app/actors.js';
import { appMachine, type AppEmitted } from '../src/machines/appMachine.js';
import { pairingMachine, type PairingAnnouncement } from '../src/machines/pairingMachine.js';
import { BACKCHANNEL_MACHINES, replay, stateOf } from '../src/journal/replay.js';
import { liveAt } from './helpers/actors.js';

/** Every wormhole the pairing machine started, and what it was told: the test speaks for it. */
interface FakeWormhole {
  ref: () => AnyActorRef;
  aborted: boolean;
}

function harness() {
  const wormholes: FakeWormhole[] = [];
  const fakeWormhole = setup({
    types: {
      events: {} as { type: 'test.say'; event: AnyEventObject } | { type: 'CLOSE' | 'ABORT' | 'SEND' },
      context: {} as { error?: BackchannelError; mood: string },
    },
    actions: { noteAbort: () => {} },
  }).createMachine({
    id: 'fakeWormhole',
    context: { mood: 'lonely' },
    initial: 'running',
    states: {
      running: {
        on: {
          'test.say': { actions: sendParent(({ event }) => event.event) },
          CLOSE: { target: 'ended', actions: assign({ mood: 'happy' }) },
          // As the real one: ABORT releases the nameplate, closes the mailbox "lonely", ends with AbortedError.
          ABORT: { target: 'ended', actions: ['noteAbort', assign({ error: () => new AbortedError() })] },
        },
      },
      ended: { type: 'final' },
    },
    output: ({ context }) => ({ mood: context.mood, error: context.error }),
  });
  const clock = new SimulatedClock();
  const machine = appMachine.provide({
    actors: {
      ...appActors,
      relayCheck: fromCallback(() => () => {}) as never,
      contactLink: fromCallback(() => () => {}) as never,
      pairing: pairingMachine.provide({
        actions: { announce: sendParent((_, params: PairingAnnouncement) => params) },
        actors: {
          wormhole: fakeWormhole.provide({
            actions: {
              noteAbort: ({ self }) => {
                const w = wormholes.find((x) => x.ref() === self);
                if (w) w.aborted = true;
              },
            },
          }) as never,
        },
      }),
    },
  });
  return { machine, clock, wormholes, fakeWormhole };
}

async function start(journal?: Journal) {
  const { machine, clock, wormholes, fakeWormhole } = harness();
  const storage = new MemoryStorage();
  const app = createActor(machine, {
    input: {
      storage,
      connector: () => ({ send() {}, close() {} }),
      randomBytes: (n) => new Uint8Array(n).fill(1),
      appid: 'test',
      relay: 'ws://relay.test:4000/v1',
      clock,
    },
    clock,
    ...(journal ? { inspect: journal.observe } : {}),
  });
  const emitted: AppEmitted[] = [];
  for (const type of ['pairing.code', 'pairing.failed', 'contact.paired', 'pairing.progress'] as const) app.on(type, (e) => emitted.push(e));
  app.start();
  await waitFor(app, (s) => !s.matches('starting'));
  /** The wormhole under the running pairing child, registered the first time the test asks. */
  const wormhole = (): FakeWormhole => {
    const pairing = app.getSnapshot().children.pairing as AnyActorRef | undefined;
    const ref = (pairing?.getSnapshot() as { children: Record<string, AnyActorRef> } | undefined)?.children.wormhole;
    if (!ref) throw new Error('no wormhole running');
    let w = wormholes.find((x) => x.ref() === ref);
    if (!w) wormholes.push((w = { ref: () => ref, aborted: false }));
    return w;
  };
  const say = (event: AnyEventObject) => wormhole().ref().send({ type: 'test.say', event });
  /** The relay allocated nameplate `n` and holds our PAKE message: the code is shown. */
  const showCode = (n: number) => {
    say({ type: 'wormhole.code', code: `${n}-guitarist-revenge`, nameplate: String(n) });
    say({ type: 'wormhole.stored' });
  };
  const codes = () => emitted.filter((e): e is Extract<AppEmitted, { type: 'pairing.code' }> => e.type === 'pairing.code');
  return { app, clock, emitted, wormholes, wormhole, say, showCode, codes, fakeWormhole };
}

const inviting = (app: AnyActorRef, sub: string) => app.getSnapshot().matches({ ready: { pairing: { inviting: sub } } });

describe('an invite that renews its code (SimulatedClock)', () => {
  it('shows a new code every refreshMs, aborting the old wormhole, until someone answers; then pairs under the same request', async () => {
    const t = await start();
    t.app.send({ type: 'pairing.invite', req: 1, moniker: 'Bob', refreshMs: 60_000 });
    expect(inviting(t.app, 'opening')).toBe(true);
    t.say({ type: 'wormhole.code', code: '4-guitarist-revenge', nameplate: '4' });
    expect(t.codes()).toEqual([]); // not before the relay holds our PAKE message
    t.say({ type: 'wormhole.stored' });
    expect(t.codes()).toEqual([{ type: 'pairing.code', req: 1, code: '4-guitarist-revenge', lifetimeMs: 60_000 }]);
    expect(inviting(t.app, 'showing')).toBe(true);
    const first = t.wormhole();

    t.clock.increment(59_999);
    expect(first.aborted).toBe(false);
    t.clock.increment(1);
    expect(first.aborted).toBe(true);
    // The new pairing child is running: a new wormhole, a new code for the same request.
    const second = t.wormhole();
    expect(second).not.toBe(first);
    expect(inviting(t.app, 'opening')).toBe(true);
    t.showCode(7);
    expect(t.codes().map((c) => c.code)).toEqual(['4-guitarist-revenge', '7-guitarist-revenge']);
    expect(t.emitted.filter((e) => e.type === 'pairing.failed')).toEqual([]);

    // Bob's PAKE arrives: the code stays now, however long the key exchange takes.
    const key = new Uint8Array(32).fill(9);
    t.say({ type: 'wormhole.key', key });
    expect(inviting(t.app, 'answered')).toBe(true);
    t.clock.increment(10 * 60_000);
    expect(second.aborted).toBe(false);
    t.say({ type: 'wormhole.verified', key, verifier: key.subarray(0, 8), versions: {} });
    t.say({ type: 'wormhole.message', phase: 0, plaintext: new TextEncoder().encode('{"paired":1}') });
    await waitFor(t.app, (s) => s.matches({ ready: { pairing: 'idle' } }));
    const paired = t.emitted.find((e) => e.type === 'contact.paired');
    expect(paired).toMatchObject({ req: 1, contact: { moniker: 'Bob' } });
    expect(t.emitted.filter((e) => e.type === 'pairing.failed')).toEqual([]);
    t.app.stop();
  });

  it('a cancel while the old code is being released ends the invite (AbortedError), and no new code comes', async () => {
    const t = await start();
    t.app.send({ type: 'pairing.invite', req: 3, refreshMs: 5_000 });
    t.showCode(2);
    // Hold the old wormhole's end: the stand-in ends at once on ABORT, so check the state in between.
    const first = t.wormhole();
    t.clock.increment(5_000);
    expect(first.aborted).toBe(true);
    // The aborted child ended and a new one runs; cancel it during its own renewal instead.
    t.showCode(3);
    t.clock.increment(5_000);
    expect(t.wormholes.filter((w) => w.aborted)).toHaveLength(2);
    t.showCode(5);
    t.app.send({ type: 'pairing.cancel' });
    await waitFor(t.app, (s) => s.matches({ ready: { pairing: 'idle' } }));
    const failed = t.emitted.filter((e) => e.type === 'pairing.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ req: 3, error: { code: 'ABORTED' } });
    t.clock.increment(60_000);
    expect(t.codes().map((c) => c.code)).toEqual(['2-guitarist-revenge', '3-guitarist-revenge', '5-guitarist-revenge']);
    t.app.stop();
  });

  it('a host cancel that lands while a renewal is closing the old code ends the invite instead of renewing it', async () => {
    const { machine, clock } = harness();
    // A wormhole that takes its time to close after ABORT (as the real one waits for `released` / `closed`).
    let finish: (() => void) | undefined;
    const slowWormhole = setup({
      types: { events: {} as { type: 'test.say'; event: AnyEventObject } | { type: 'ABORT' | 'CLOSE' | 'test.closed' } },
    }).createMachine({
      initial: 'running',
      states: {
        running: {
          entry: sendParent({ type: 'wormhole.code', code: '8-guitarist-revenge', nameplate: '8' }),
          after: { 1: { actions: sendParent({ type: 'wormhole.stored' }) } },
          on: { ABORT: { target: 'closing', actions: ({ self }) => void (finish = () => self.send({ type: 'test.closed' })) } },
        },
        closing: { on: { 'test.closed': 'ended' } },
        ended: { type: 'final' },
      },
      output: () => ({ mood: 'lonely', error: new AbortedError() }),
    });
    const app = createActor(
      machine.provide({
        actors: {
          pairing: pairingMachine.provide({ actions: { announce: sendParent((_, p: PairingAnnouncement) => p) }, actors: { wormhole: slowWormhole as never } }),
        },
      }),
      {
        input: {
          storage: new MemoryStorage(),
          connector: () => ({ send() {}, close() {} }),
          randomBytes: (n) => new Uint8Array(n),
          appid: 'test',
          relay: 'ws://r.test:1/v1',
          clock,
        },
        clock,
      },
    );
    const failed: AppEmitted[] = [];
    const codes: string[] = [];
    app.on('pairing.failed', (e) => failed.push(e));
    app.on('pairing.code', (e) => codes.push(e.code));
    app.start();
    await waitFor(app, (s) => !s.matches('starting'));
    app.send({ type: 'pairing.invite', req: 9, refreshMs: 1_000 });
    clock.increment(1);
    expect(codes).toEqual(['8-guitarist-revenge']);
    clock.increment(1_000);
    expect(inviting(app, 'refreshing')).toBe(true);
    app.send({ type: 'pairing.cancel' });
    expect(inviting(app, 'cancelled')).toBe(true);
    finish!();
    expect(app.getSnapshot().matches({ ready: { pairing: 'idle' } })).toBe(true);
    expect(failed).toMatchObject([{ req: 9, error: { code: 'ABORTED' } }]);
    clock.increment(10_000);
    expect(codes).toEqual(['8-guitarist-revenge']);
    app.stop();
  });

  it('without refreshMs one code stays until answered, however long', async () => {
    const t = await start();
    t.app.send({ type: 'pairing.invite', req: 1 });
    t.showCode(4);
    expect(t.codes()).toEqual([{ type: 'pairing.code', req: 1, code: '4-guitarist-revenge' }]);
    const only = t.wormhole();
    t.clock.increment(60 * 60_000);
    expect(only.aborted).toBe(false);
    expect(inviting(t.app, 'showing')).toBe(true);
    t.app.stop();
  });

  it('the journal replays an invite through its renewals to the live state', async () => {
    const journal = await Journal.open({ storage: new MemoryStorage(), flushMs: 5 });
    const t = await start(journal);
    t.app.send({ type: 'pairing.invite', req: 1, refreshMs: 30_000 });
    t.showCode(4);
    t.clock.increment(30_000);
    t.showCode(6);
    t.clock.increment(30_000);
    t.showCode(1);
    t.say({ type: 'wormhole.key', key: new Uint8Array(32).fill(3) });
    await journal.flush();
    const running = (await replay(journal, { ...BACKCHANNEL_MACHINES, fakeWormhole: t.fakeWormhole })).filter((r) => !r.ended && r.machine);
    expect(running.map((r) => r.failure).filter(Boolean)).toEqual([]);
    expect(running.map((r) => r.path).sort()).toEqual(['app', 'app/pairing', 'app/pairing/wormhole']);
    for (const r of running) expect(stateOf(r.snapshot!), r.path).toBe(stateOf(liveAt(t.app, r.path)!.getSnapshot()));
    expect(inviting(t.app, 'answered')).toBe(true);
    t.app.stop();
    await journal.close();
  });
});
