/**
 * DISCOVER with a contact's linked devices (issue 12 §4), as a property on the in-memory network and
 * a simulated clock: Alice and her second device Alice2 (both seeking Bob's key) and Bob (seeking
 * Alice's) on one topic, frames dropped, duplicated, reordered and delayed, one of Alice's devices
 * arriving at a random step. Once the faults stop, Bob holds two channels, one to each of Alice's
 * devices, and each of hers holds one to Bob, each carrying a frame to the right device (a channel
 * that lost a frame to the faults closes on the next one and is built again); Alice and Alice2 never
 * connect to each other for Bob's topic, not even under faults. All three, journaled, replay to their
 * live snapshots.
 */
import fc from 'fast-check';
import { SimulatedClock, createActor, type Actor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DiscoveryServer } from '../server/discoveryServer.js';
import { MemoryNetwork } from '../src/adapters/memoryNetwork.js';
import { toHex } from '../src/crypto/bytes.js';
import type { Transport } from '../src/effects/transport.js';
import { discoverMachine } from '../src/machines/discoverMachine.js';
import { vectorEntropy } from './helpers/entropy.js';
import { FC_NET_RUNS } from './helpers/runs.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { Journal } from '../src/journal/journal.js';
import { replay, stateOf } from '../src/journal/replay.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';

type Fault = { at: number; kind: 'drop' | 'duplicate' | 'reorder' | 'delay'; n: number };
const fault: fc.Arbitrary<Fault> = fc.record({
  at: fc.nat({ max: 100 }),
  kind: fc.constantFrom('drop' as const, 'duplicate' as const, 'reorder' as const, 'delay' as const),
  n: fc.nat({ max: 5 }),
});

const RUNS = FC_NET_RUNS;
const ALICE_KEY = 'a'.repeat(64);
const BOB_KEY = 'b'.repeat(64);
const NAMES = ['alice', 'alice2', 'bob'] as const;
type Name = (typeof NAMES)[number];
const outcomes = new Branches('DISCOVER with linked devices', [
  'Bob reached Alice first',
  'Bob reached Alice2 first',
  "one of Alice's devices arrived after Bob connected to the other",
  'a channel was lost under faults and found again',
] as const);

async function simulate(seed: string, faults: Fault[], late: 'alice' | 'alice2', lateAt: number) {
  const clock = new SimulatedClock();
  const journal = await Journal.open({ storage: new MemoryStorage(), clock, flushMs: 1 });
  const server = new DiscoveryServer({ randomBytes: vectorEntropy(`server${seed}`) });
  const net = new MemoryNetwork(server, { mode: 'manual' });
  const key = vectorEntropy(`key${seed}`)(32);
  /** Every session id each device drew (a session's first 8 random bytes; other 8-byte draws are harmless here). */
  const sids: Record<Name, Set<string>> = { alice: new Set(), alice2: new Set(), bob: new Set() };
  /** Every peer each device was ever connected to, in order, and every loss. */
  const connectedTo: Record<Name, string[]> = { alice: [], alice2: [], bob: [] };
  let losses = 0;
  const devices = new Map<Name, Actor<typeof discoverMachine>>();
  const everyActor: Actor<typeof discoverMachine>[] = [];
  let restarts = 0;
  const start = (name: Name) => {
    const entropy = vectorEntropy(`${name}${seed}`);
    const actor = createActor(discoverMachine, {
      input: {
        contactKey: key,
        url: 'ws://memory/backchannel/v2',
        connector: net.connector,
        randomBytes: (n) => {
          const bytes = entropy(n);
          if (n === 8) sids[name].add(toHex(bytes));
          return bytes;
        },
        seek: name === 'bob' ? ALICE_KEY : BOB_KEY,
        timeouts: { reconnectBaseMs: 100, reconnectMaxMs: 2_000 },
      },
      clock,
      inspect: journal.observe,
    });
    actor.on('connected', ({ peer }) => connectedTo[name].push(peer));
    actor.on('disconnected', () => losses++);
    actor.start();
    devices.set(name, actor);
    everyActor.push(actor);
  };
  start(late === 'alice' ? 'alice2' : 'alice');
  start('bob');
  const settle = () => new Promise((r) => setImmediate(r));
  let cameLate = false;
  for (let step = 0; step < 120; step++) {
    if (step === lateAt) {
      cameLate = connectedTo.bob.length > 0;
      start(late);
    }
    for (const f of faults.filter((x) => x.at === step)) {
      if (f.kind === 'drop') net.dropOne(f.n);
      else if (f.kind === 'duplicate') net.duplicate(f.n);
      else if (f.kind === 'reorder') net.step(f.n);
      else clock.increment(200 * (f.n + 1));
    }
    if (!net.step()) clock.increment(50);
    await settle();
  }
  const lostUnderFaults = losses > 0;
  // Calm: in-order delivery and time passing, until Bob holds two channels and each of Alice's one.
  const channels = (name: Name): Record<string, Transport> =>
    Object.fromEntries(Object.entries(devices.get(name)!.getSnapshot().context.peers).flatMap(([peer, p]) => (p.channel ? [[peer, p.channel] as const] : [])));
  const settled = () =>
    Object.keys(channels('bob')).length === 2 && Object.keys(channels('alice')).length === 1 && Object.keys(channels('alice2')).length === 1;
  const calm = async () => {
    for (let step = 0; step < 5_000 && !settled(); step++) {
      // A DISCOVER that gave up is started again, as its contact link does after a rest: the memory
      // network reorders frames within a connection too (a real socket does not), so the relay may see
      // an announce before its proof and refuse the topic.
      for (const name of NAMES)
        if (devices.get(name)?.getSnapshot().status === 'done') {
          restarts++;
          start(name);
        }
      if (!net.step()) clock.increment(100);
      await settle();
    }
    return settled();
  };
  await calm();
  const owner = (sid: string): Name | undefined => NAMES.find((n) => sids[n].has(sid));
  const channelTo = (from: Name, to: Name) => Object.entries(channels(from)).find(([peer]) => owner(peer) === to)?.[1];
  // Each of Bob's channels carries a frame to the device it names, and each of Alice's to Bob. A frame
  // the faults dropped inside a channel shows as a hole only when the next one arrives: the receiver
  // closes the channel, DISCOVER builds a new one, and the frame is sent again on it (as SYNC would).
  const delivered: string[] = [];
  let holes = 0;
  const pairs: [Name, Name][] = [
    ['alice', 'bob'],
    ['alice2', 'bob'],
    ['bob', 'alice'],
    ['bob', 'alice2'],
  ];
  for (const [from, to] of settled() ? pairs : []) {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!(await calm())) break;
      const channel = channelTo(from, to)!;
      const back = channelTo(to, from)!;
      let closed = false;
      let text: string | undefined;
      const ends = [
        channel.on('close', () => (closed = true)),
        back.on('close', () => (closed = true)),
        back.on('message', (bytes) => (text = `${from}→${to}:${bytes[0]}`)),
      ];
      await channel.send(Uint8Array.of(NAMES.indexOf(from))).catch(() => (closed = true));
      for (let k = 0; k < 200 && text === undefined && !closed; k++) {
        if (!net.step()) clock.increment(20);
        await settle();
      }
      for (const end of ends) end();
      if (text) {
        delivered.push(text);
        break;
      }
      if (closed) holes++;
    }
  }
  const states = everyActor.map((a) => a.getSnapshot());
  const replayed = (await replay(journal)).filter((r) => r.path === 'discover');
  const replayedStates = replayed.map((r) => r.failure ?? stateOf(r.snapshot!));
  for (const d of devices.values()) d.stop();
  return { settled: settled(), delivered, connectedTo, owner, states, replayedStates, lostUnderFaults, cameLate, restarts, holes };
}

describe('DISCOVER with two devices of one person and their contact on one topic', () => {
  it(
    'the contact ends with a channel to each of my devices, my devices none between them; frames reach the right device',
    async () => {
      let restarted = 0;
      let holes = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.string({ maxLength: 6 }),
          fc.array(fault, { maxLength: 10 }),
          fc.constantFrom('alice' as const, 'alice2' as const),
          fc.nat({ max: 60 }),
          async (seed, faults, late, lateAt) => {
            const r = await simulate(seed, faults, late, lateAt);
            // The journal replays to the very same snapshots, per-peer timers and all.
            expect(r.replayedStates.sort()).toEqual(r.states.map((s) => stateOf(s)).sort());
            // Never, not even under faults, did Alice and Alice2 connect to each other.
            for (const peer of r.connectedTo.alice) expect(r.owner(peer)).toBe('bob');
            for (const peer of r.connectedTo.alice2) expect(r.owner(peer)).toBe('bob');
            for (const peer of r.connectedTo.bob) expect(['alice', 'alice2']).toContain(r.owner(peer));
            expect(r.settled, `not settled: ${r.states.map((s) => JSON.stringify(s.value)).join(' / ')}`).toBe(true);
            expect(r.delivered.sort()).toEqual(['alice2→bob:1', 'alice→bob:0', 'bob→alice2:2', 'bob→alice:2']);
            outcomes.hit(r.owner(r.connectedTo.bob[0]!) === 'alice' ? 'Bob reached Alice first' : 'Bob reached Alice2 first');
            if (r.cameLate) outcomes.hit("one of Alice's devices arrived after Bob connected to the other");
            if (r.lostUnderFaults) outcomes.hit('a channel was lost under faults and found again');
            restarted += r.restarts;
            holes += r.holes;
          },
        ),
        { numRuns: RUNS },
      );
      console.log(
        `DISCOVER with linked devices: sessions that gave up (relay saw a reordered proof) and were started again: ${restarted}; channels closed over a frame the faults dropped, rebuilt and sent on again: ${holes}`,
      );
      outcomes.check();
    },
    budgetMs(RUNS, 2_000),
  );
});
