/**
 * The depot client as a machine, on XState's SimulatedClock: its effects (socket, document store,
 * storage) are `.provide()`d stand-ins the test drives, so the debounce, the poll and the reconnect
 * backoff are checked to the millisecond without real time. `test/depot.test.ts` runs it over the wire.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, type InspectionEvent } from 'xstate';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Journal } from '../src/journal/journal.js';
import { replay, stateOf } from '../src/journal/replay.js';
import { DEFAULT_DEPOT_TIMEOUTS, depotMachine, type DepotEmitted, type DepotInput } from '../src/depot/depotMachine.js';
import type { PrepareInput } from '../src/depot/depotActors.js';
import type { SocketEvent } from '../src/machines/socketActor.js';
import { discoveryTopic } from '../src/crypto/topic.js';
import { proveTopic, topicKey } from '../src/crypto/topicKey.js';
import { toHex } from '../src/crypto/bytes.js';
import { depotTag } from '../src/depot/payload.js';
import { BARE_READERS_PROBLEM, MINE_PROBLEM } from '../src/depot/wire.js';
import { TopicUnprovenError } from '../src/errors.js';

const contactKey = new Uint8Array(32).fill(7);
const topic = discoveryTopic(contactKey);
const challenge = new Uint8Array(32).fill(0x5c);
const tag = depotTag(contactKey, 'd'.repeat(32));

type SendBack = (e: SocketEvent | { type: 'doc.changed' }) => void;

/** A depot machine whose effects the test drives, on a simulated clock. */
function harness(
  options: { deposit?: boolean; inspect?: (e: InspectionEvent) => void; readers?: string[]; tokens?: Record<string, string>; mine?: string[] } = {},
) {
  const clock = new SimulatedClock();
  const sockets: { sendBack: SendBack; sent: Record<string, unknown>[]; openedAt: number; closed: boolean }[] = [];
  const prepared: PrepareInput[] = [];
  const emitted: DepotEmitted[] = [];
  let changes: SendBack = () => {};
  let onSent: (frame: Record<string, unknown>) => void = () => {};
  let blobs = 0;
  const machine = depotMachine.provide({
    actors: {
      socket: fromCallback(({ sendBack, receive }) => {
        const socket = { sendBack: sendBack as SendBack, sent: [] as Record<string, unknown>[], openedAt: clock.now(), closed: false };
        sockets.push(socket);
        receive((command) => {
          const frame = JSON.parse((command as unknown as { text: string }).text) as Record<string, unknown>;
          socket.sent.push(frame);
          onSent(frame);
        });
        return () => (socket.closed = true);
      }),
      changes: fromCallback(({ sendBack }) => {
        changes = sendBack as SendBack;
        return () => {};
      }),
      prepareDeposit: fromPromise(async ({ input }) => {
        prepared.push(input as PrepareInput);
        blobs++;
        return { deposits: [{ blob: 'AAAA', heads: [`h${blobs}`], ...(options.readers ? { readers: options.readers } : {}) }] };
      }),
      applyDeposits: fromPromise(async ({ input }) => {
        const ids = (input as { items: { id: string }[] }).items.map((i) => i.id);
        return { applied: ids.length, ids, tokens: ids.map((id) => options.tokens?.[id] ?? ''), ...(options.mine ? { mine: options.mine } : {}) };
      }),
      saveHeads: fromPromise(async () => {}),
    } as never,
  });
  const input = {
    url: 'ws://relay.test/backchannel/v2',
    contactKey,
    channelId: 'c'.repeat(32),
    deviceId: 'd'.repeat(32),
    deposit: options.deposit,
  } as unknown as DepotInput;
  const actor = createActor(machine, { clock, input, ...(options.inspect ? { inspect: options.inspect } : {}) });
  for (const type of ['deposited', 'refused', 'relay', 'fetched', 'bareReaders'] as const) actor.on(type, (e) => emitted.push(e));
  actor.start();
  const socket = () => sockets.at(-1)!;
  return {
    clock,
    actor,
    sockets,
    socket,
    prepared,
    emitted,
    changed: () => changes({ type: 'doc.changed' }),
    /** Resolves with the next frame of `type` the machine sends. */
    nextSent: (type: string) => new Promise<Record<string, unknown>>((resolve) => (onSent = (f) => f.type === type && resolve(f))),
    reply: (frame: Record<string, unknown>) => socket().sendBack({ type: 'socket.frame', text: JSON.stringify(frame) }),
    /** The socket opens and the relay sends its challenge, as a relay does first. */
    open: () => {
      socket().sendBack({ type: 'socket.open' });
      socket().sendBack({ type: 'socket.frame', text: JSON.stringify({ type: 'challenge', challenge: toHex(challenge) }) });
    },
  };
}

describe('depotMachine (simulated clock)', () => {
  it('debounces: a deposit goes out debounceMs after the last change of a burst, not before', async () => {
    const h = harness();
    const first = h.nextSent('deposit');
    h.open(); // what was written while away goes out after the debounce too
    // The topic is proven (the relay's challenge signed) before the first request.
    expect(h.socket().sent).toEqual([
      { type: 'prove', ...proveTopic(topicKey(contactKey), challenge) },
      { type: 'fetch', topic, skip: tag }, // its own deposits are left out at the relay
    ]);
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs - 1);
    expect(h.prepared).toHaveLength(0);
    h.clock.increment(1);
    expect(h.prepared).toHaveLength(1);
    expect(await first).toEqual({ type: 'deposit', topic, blob: 'AAAA', tag });
    h.reply({ type: 'deposited', topic, id: 'x1' }); // one batch in flight at a time: this one is stored

    // A burst: each change restarts the wait.
    const second = h.nextSent('deposit');
    h.changed();
    h.clock.increment(30);
    h.changed();
    h.clock.increment(30);
    h.changed();
    h.clock.increment(49);
    expect(h.prepared).toHaveLength(1);
    h.clock.increment(1);
    expect(h.prepared).toHaveLength(2);
    await second;
    expect(h.prepared[1]!.sent).toEqual(['h1']); // starts where the first one ended
    h.actor.stop();
  });

  it('reconnects with backoff: 100 ms doubling to 10 s, down announced once; a working connection resets it', () => {
    const h = harness();
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      const before = h.sockets.length;
      const closedAt = h.clock.now();
      h.socket().sendBack({ type: 'socket.closed', code: 1006 });
      // Advance a millisecond at a time: the next attempt starts exactly when the backoff ends.
      while (h.sockets.length === before) h.clock.increment(1);
      waits.push(h.socket().openedAt - closedAt);
    }
    expect(waits).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    expect(h.emitted).toEqual([{ type: 'relay', up: false }]);

    h.open();
    h.socket().sendBack({ type: 'socket.closed', code: 1006 });
    const before = h.sockets.length;
    h.clock.increment(99);
    expect(h.sockets.length).toBe(before);
    h.clock.increment(1);
    expect(h.sockets.length).toBe(before + 1);
    expect(h.emitted).toEqual([
      { type: 'relay', up: false },
      { type: 'relay', up: true },
      { type: 'relay', up: false },
    ]);
    h.actor.stop();
  });

  it('one batch in flight: a change while a deposit awaits its acknowledgement goes once it is acknowledged', async () => {
    const h = harness();
    h.open();
    const first = h.nextSent('deposit');
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    await first;
    h.changed();
    h.clock.increment(10 * DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    expect(h.prepared).toHaveLength(1); // held back: the relay bounds what a connection has in flight
    const second = h.nextSent('deposit');
    h.reply({ type: 'deposited', topic, id: 'x1' });
    await second;
    expect(h.prepared).toHaveLength(2);
    h.actor.stop();
  });

  it('polls every fetchEveryMs, and fetches at once on waiting', () => {
    const h = harness({ deposit: false });
    h.open();
    const fetches = () => h.socket().sent.filter((f) => f.type === 'fetch').length;
    expect(fetches()).toBe(1);
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.fetchEveryMs - 1);
    expect(fetches()).toBe(1);
    h.clock.increment(1);
    expect(fetches()).toBe(2);
    h.reply({ type: 'waiting', topic });
    expect(fetches()).toBe(3);
    h.reply({ type: 'waiting', topic: 'f'.repeat(64) }); // another topic's: not ours
    expect(fetches()).toBe(3);
    h.changed();
    h.clock.increment(1000);
    expect(h.prepared).toHaveLength(0); // collect-only: never deposits
    h.actor.stop();
  });

  it("names my other devices seen depositing in a contact's channel in every later fetch (`mine`), so the relay leaves theirs out", async () => {
    const other = 'e'.repeat(32);
    const h = harness({ deposit: false, mine: [other] });
    h.open();
    const fetches = () => h.socket().sent.filter((f) => f.type === 'fetch');
    expect(fetches()[0]).toEqual({ type: 'fetch', topic, skip: tag }); // nothing seen yet
    // A page holding my other device's deposit (the apply reports it as mine). Its `more` follow-up goes before the apply ends,
    // without the tag; the fetches after the apply name it.
    h.reply({ type: 'deposits', topic, items: [{ id: 'x1', blob: 'AAAA' }], more: true });
    const mine = [depotTag(contactKey, other)];
    await new Promise((r) => setImmediate(r));
    expect(fetches().at(-1)).toEqual({ type: 'fetch', topic, after: 'x1', skip: tag });
    h.reply({ type: 'deposits', topic, items: [{ id: 'x2', blob: 'AAAA' }], more: true });
    await new Promise((r) => setImmediate(r));
    expect(fetches().at(-1)).toEqual({ type: 'fetch', topic, after: 'x2', skip: tag, mine });
    h.reply({ type: 'waiting', topic });
    expect(fetches().at(-1)).toEqual({ type: 'fetch', topic, skip: tag, mine }); // seen again: listed once
    // A relay that refuses it: fetched again at once without it, and from then on.
    h.reply({ type: 'error', re: 'fetch', reason: MINE_PROBLEM });
    expect(fetches().at(-1)).toEqual({ type: 'fetch', topic, skip: tag });
    h.reply({ type: 'waiting', topic });
    expect(fetches().at(-1)).toEqual({ type: 'fetch', topic, skip: tag });
    h.actor.stop();
  });

  it('a deposit refused as unproven reaches the outside as a refusal carrying TopicUnprovenError', async () => {
    const h = harness();
    h.open();
    const sent = h.nextSent('deposit');
    h.clock.increment(50);
    await sent;
    h.reply({ type: 'error', re: 'deposit', reason: 'prove the topic key on this connection first', code: 'unproven' });
    const refused = h.emitted.filter((e) => e.type === 'refused');
    expect(refused).toHaveLength(1);
    const { error } = refused[0] as Extract<DepotEmitted, { type: 'refused' }>;
    expect(error).toBeInstanceOf(TopicUnprovenError);
    expect(error!.data).toEqual({ re: 'deposit', reason: 'prove the topic key on this connection first' });
    h.actor.stop();
  });

  it('acknowledged deposits are announced; only an error answering a deposit is a refusal; unacknowledged ones go again after a reconnect', async () => {
    const h = harness();
    h.open();
    const sent = h.nextSent('deposit');
    h.clock.increment(50);
    await sent;
    const deposited = new Promise<DepotEmitted>((resolve) => h.actor.on('deposited', resolve));
    h.reply({ type: 'deposited', topic, id: 'x1' });
    expect(await deposited).toEqual({ type: 'deposited', id: 'x1', heads: ['h1'] });

    const again = h.nextSent('deposit');
    h.changed();
    h.clock.increment(50);
    await again;
    h.reply({ type: 'error', re: 'fetch', reason: 'depot error' });
    expect(h.emitted.filter((e) => e.type === 'refused')).toEqual([]);
    h.reply({ type: 'error', re: 'deposit', reason: 'depot full for this topic (3 deposits)' });
    expect(h.emitted.filter((e) => e.type === 'refused')).toEqual([{ type: 'refused', reason: 'depot full for this topic (3 deposits)' }]);

    // A deposit sent and never acknowledged: after a reconnect the next one starts from what the relay stored.
    const third = h.nextSent('deposit');
    h.changed();
    h.clock.increment(50);
    await third;
    expect(h.prepared.at(-1)!.sent).toBeUndefined(); // the refusal forgot what was in flight
    h.reply({ type: 'deposited', topic, id: 'x3' }); // one batch in flight at a time
    const fourth = h.nextSent('deposit');
    h.changed();
    h.clock.increment(50);
    await fourth;
    expect(h.prepared.at(-1)!.sent).toEqual(['h3']); // on one connection, each deposit starts where the last ended
    h.socket().sendBack({ type: 'socket.closed' });
    h.clock.increment(100);
    const resent = h.nextSent('deposit');
    h.open();
    h.clock.increment(50);
    await resent;
    expect(h.prepared.at(-1)!.sent).toBeUndefined();
    h.actor.stop();
  });

  it('applies fetched deposits and acknowledges them', async () => {
    const h = harness({ deposit: false });
    h.open();
    const ack = h.nextSent('ack');
    h.reply({
      type: 'deposits',
      topic,
      items: [
        { id: 'a', blob: 'AAAA' },
        { id: 'b', blob: 'BBBB' },
      ],
    });
    // Naming our tag: a deposit for several of our devices waits for the others, and is not listed to us again.
    expect(await ack).toEqual({ type: 'ack', topic, ids: ['a', 'b'], tag });
    expect(h.emitted.at(-1)).toEqual({ type: 'fetched', applied: 2 });
    h.actor.stop();
  });

  it('an ack carries the token each deposit sealed to this device, by position ("" where it has none)', async () => {
    const token = 'ab'.repeat(16);
    const h = harness({ deposit: false, tokens: { b: token } });
    h.open();
    const ack = h.nextSent('ack');
    h.reply({
      type: 'deposits',
      topic,
      items: [
        { id: 'a', blob: 'AAAA' },
        { id: 'b', blob: 'BBBB' },
      ],
    });
    expect(await ack).toEqual({ type: 'ack', topic, ids: ['a', 'b'], tag, tokens: ['', token] });
    h.actor.stop();
  });

  it("a deposit lists the readers prepareDeposit found (the contact's devices), and prepareDeposit gets the contact key to find them", async () => {
    const readers = [`${'1'.repeat(16)}:${'a'.repeat(32)}`, '2'.repeat(16)];
    const h = harness({ readers });
    const first = h.nextSent('deposit');
    h.open();
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    expect(await first).toEqual({ type: 'deposit', topic, blob: 'AAAA', tag, readers });
    expect(h.prepared[0]!.contactKey).toEqual(contactKey);
    h.actor.stop();
  });

  it('a relay from before ack tokens refuses the readers: the deposit goes again listing them by bare tag, not a refusal; a new connection tries tokens again', async () => {
    const readers = [`${'1'.repeat(16)}:${'a'.repeat(32)}`, `${'2'.repeat(16)}:${'b'.repeat(32)}`];
    const h = harness({ readers });
    h.open();
    const first = h.nextSent('deposit');
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    expect((await first).readers).toEqual(readers);
    const again = h.nextSent('deposit');
    h.reply({ type: 'error', re: 'deposit', reason: "deposit's 'readers' must be 1 to 16 distinct tags of 16 hex digits" });
    expect(await again).toEqual({ type: 'deposit', topic, blob: 'AAAA', tag, readers: ['1'.repeat(16), '2'.repeat(16)] });
    expect(h.emitted.filter((e) => e.type === 'refused')).toEqual([]);
    // The app is told: this relay takes readers by bare tag only.
    expect(h.emitted.filter((e) => e.type === 'bareReaders')).toEqual([{ type: 'bareReaders', reason: BARE_READERS_PROBLEM }]);
    const deposited = new Promise<DepotEmitted>((resolve) => h.actor.on('deposited', resolve));
    h.reply({ type: 'deposited', topic, id: 'x1' });
    expect(await deposited).toMatchObject({ type: 'deposited', id: 'x1' });
    // Refused again in bare form (or any other refusal): a refusal as before.
    const third = h.nextSent('deposit');
    h.changed();
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    expect((await third).readers).toEqual(['1'.repeat(16), '2'.repeat(16)]);
    h.reply({ type: 'error', re: 'deposit', reason: "deposit's 'readers' must be 1 to 16 distinct tags of 16 hex digits" });
    expect(h.emitted.filter((e) => e.type === 'refused')).toHaveLength(1);
    // A new connection (the relay may have been upgraded): tokens first again.
    const fresh = h.nextSent('deposit');
    h.socket().sendBack({ type: 'socket.closed' } as SocketEvent);
    h.clock.increment(60_000);
    h.open();
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    expect((await fresh).readers).toEqual(readers);
    h.actor.stop();
  });

  it("another reason about the readers, even one worded like the older relay's, is a refusal: no deposit goes again by bare tag", async () => {
    const readers = [`${'1'.repeat(16)}:${'a'.repeat(32)}`];
    const h = harness({ readers });
    h.open();
    const first = h.nextSent('deposit');
    h.clock.increment(DEFAULT_DEPOT_TIMEOUTS.debounceMs);
    await first;
    // Whichever comes first: the refusal, or the deposit sent again.
    const refused = new Promise<string>((resolve) => h.actor.on('refused', () => resolve('refused')));
    const again = h.nextSent('deposit').then(() => 'sent again');
    h.reply({ type: 'error', re: 'deposit', reason: "deposit's 'readers' must be 1 to 8 distinct tags of 16 hex digits" });
    expect(await Promise.race([refused, again])).toBe('refused');
    expect(h.emitted.filter((e) => e.type === 'bareReaders')).toEqual([]);
    h.actor.stop();
  });

  it('is in the journal: replay rebuilds its state exactly as it ran', async () => {
    const journal = await Journal.open({ storage: new MemoryStorage(), flushMs: 1 });
    // My other device seen depositing too: the tags it learns are in the state replay rebuilds.
    const h = harness({ inspect: journal.observe, mine: ['e'.repeat(32)] });
    h.socket().sendBack({ type: 'socket.closed' });
    h.clock.increment(100);
    h.open();
    const sent = h.nextSent('deposit');
    h.clock.increment(50);
    await sent;
    h.reply({ type: 'deposited', topic, id: 'x1' });
    const ack = h.nextSent('ack');
    h.reply({ type: 'deposits', topic, items: [{ id: 'a', blob: 'AAAA' }] });
    await ack;
    h.reply({ type: 'waiting', topic });
    expect(h.socket().sent.at(-1)).toMatchObject({ type: 'fetch', mine: [depotTag(contactKey, 'e'.repeat(32))] });
    h.changed();
    const [replayed] = (await replay(journal)).filter((r) => r.machine === 'depot');
    expect(replayed?.failure).toBeUndefined();
    expect(replayed!.events).toBeGreaterThan(5);
    expect(stateOf(replayed!.snapshot!)).toBe(stateOf(h.actor.getSnapshot()));
    expect(replayed!.snapshot!.context.mine).toEqual(h.actor.getSnapshot().context.mine);
    h.actor.stop();
    await journal.close();
  });
});
