/**
 * DISCOVER under a hostile network (fast-check, in-memory network, simulated clock): frames delayed,
 * duplicated, reordered, connections cut at random points, the relay down for a while (longer than the
 * timeouts, sometimes) or for good. Once the faults stop, both devices end connected to each other and
 * a frame gets through — or both fail cleanly; never one connected and the other not ("half-open"),
 * never a hang. And both devices, journaled, replay to their live snapshots.
 */
import fc from 'fast-check';
import { SimulatedClock, createActor, type Actor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DiscoveryServer } from '../server/discoveryServer.js';
import { MemoryNetwork } from '../src/adapters/memoryNetwork.js';
import type { Transport } from '../src/effects/transport.js';
import { discoverMachine } from '../src/machines/discoverMachine.js';
import { vectorEntropy } from './helpers/entropy.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { Journal } from '../src/journal/journal.js';
import { replay, stateOf } from '../src/journal/replay.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';

/** `outage`: the relay refuses connections and cuts the open ones for (n + 1) × 3 s of simulated time (the longest outlast the devices' attempts). */
type Fault = { at: number; kind: 'drop' | 'duplicate' | 'reorder' | 'delay' | 'outage'; n: number };
const fault: fc.Arbitrary<Fault> = fc.record({
  at: fc.nat({ max: 120 }),
  kind: fc.constantFrom('drop' as const, 'duplicate' as const, 'reorder' as const, 'delay' as const, 'outage' as const),
  n: fc.nat({ max: 5 }),
});
/** The step at which the relay goes away for good, in about one run in five. */
const relayDeath = fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, { arbitrary: fc.nat({ max: 140 }), weight: 1 });

const RUNS = Math.max(40, Math.floor(FC_RUNS / 4));
const faultsInjected = { count: 0 };
/** Runs where an outage outlasted one device's attempts only (allowed, counted, not required). */
const oneGaveUp = { count: 0 };
const outcomes = new Branches('DISCOVER under faults', ['connected', 'both failed, relay gone for good', 'both failed after an outage'] as const);

async function simulate(seed: string, faults: Fault[], relayDiesAt: number | null) {
  const clock = new SimulatedClock();
  // Both devices are journaled: at the end, replay must rebuild each from its events alone.
  const journal = await Journal.open({ storage: new MemoryStorage(), clock, flushMs: 1 });
  const server = new DiscoveryServer({ randomBytes: vectorEntropy(`server${seed}`) });
  const net = new MemoryNetwork(server, { mode: 'manual' });
  const key = vectorEntropy(`key${seed}`)(32);
  const latest: (Transport | undefined)[] = [undefined, undefined];
  const device = (i: number): Actor<typeof discoverMachine> => {
    const actor = createActor(discoverMachine, {
      input: {
        contactKey: key,
        url: 'ws://memory/backchannel/v2',
        connector: net.connector,
        randomBytes: vectorEntropy(`device${i}${seed}`),
        timeouts: { directMs: 1_000, reconnectBaseMs: 100, reconnectMaxMs: 2_000 },
      },
      clock,
      inspect: journal.observe,
    });
    actor.on('connected', ({ channel }) => (latest[i] = channel));
    actor.start();
    return actor;
  };
  const devices = [device(0), device(1)];
  const settle = () => new Promise((r) => setImmediate(r));
  // The relay comes back at `upAt` (simulated ms) after an outage, unless it died for good.
  let upAt = 0;
  let dead = false;
  let outages = 0;
  const down = (untilMs: number) => {
    net.online = false;
    net.dropAll();
    upAt = Math.max(upAt, untilMs);
  };
  const maybeUp = () => {
    if (!dead && !net.online && clock.now() >= upAt) net.online = true;
  };
  // Faulty phase.
  for (let step = 0; step < 150; step++) {
    for (const f of faults.filter((x) => x.at === step)) {
      faultsInjected.count++;
      if (f.kind === 'drop') net.dropOne(f.n);
      else if (f.kind === 'duplicate') net.duplicate(f.n);
      else if (f.kind === 'reorder') net.step(f.n);
      else if (f.kind === 'outage') (outages++, down(clock.now() + 3_000 * (f.n + 1)));
      else clock.increment(200 * (f.n + 1));
    }
    if (step === relayDiesAt) ((dead = true), down(Infinity));
    maybeUp();
    if (!net.step()) clock.increment(50);
    await settle();
  }
  // Calm phase: in-order delivery and time passing, until both hold a channel that carries a frame.
  const connected = () => devices.every((d) => d.getSnapshot().matches({ session: 'connected' }));
  let delivered = false;
  for (let step = 0; step < 5_000 && !delivered; step++) {
    maybeUp();
    if (!net.step()) clock.increment(100);
    await settle();
    if (connected() && step % 20 === 0) {
      const got = new Promise<boolean>((resolve) => latest[1]!.on('message', () => resolve(true)));
      await latest[0]!.send(Uint8Array.of(42)).catch(() => {});
      for (let k = 0; k < 200 && !delivered; k++) {
        if (!net.step()) clock.increment(20);
        await settle();
        delivered = await Promise.race([got, Promise.resolve(false)]);
      }
    }
    if (devices.every((d) => d.getSnapshot().status === 'done')) break;
  }
  const states = devices.map((d) => d.getSnapshot());
  const replayed = (await replay(journal)).filter((r) => r.path === 'discover');
  const replayedStates = replayed.map((r) => r.failure ?? stateOf(r.snapshot!));
  for (const d of devices) d.stop();
  return { delivered, states, replayedStates, dead, outages };
}

describe('DISCOVER under delays, drops, duplicates and reorders', () => {
  it(
    'both end connected with a working channel, or fail cleanly; never half-open',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 6 }), fc.array(fault, { maxLength: 10 }), relayDeath, async (seed, faults, relayDiesAt) => {
          const { delivered, states, replayedStates, dead } = await simulate(seed, faults, relayDiesAt);
          // Event sourcing holds under faults too: the journal replays to the very same two snapshots.
          expect(replayedStates).toEqual(states.map((s) => stateOf(s)));
          const failed = states.map((s) => s.status === 'done');
          if (failed.every(Boolean)) {
            for (const s of states) expect(s.output?.error?.code).toBeDefined();
            outcomes.hit(dead ? 'both failed, relay gone for good' : 'both failed after an outage');
            return;
          }
          if (failed.some(Boolean)) {
            // An outage that outlasts one device's attempts but not the other's: that one gave up (the
            // contact link starts DISCOVER again after a rest), the other is back on the relay and
            // waits. Clean, not half-open: the giver-up failed typed, the waiter holds no channel.
            const [gaveUp, waits] = failed[0] ? states : [states[1]!, states[0]!];
            expect(dead, 'only an outage can part them').toBe(false);
            expect(gaveUp!.output?.error?.code).toBeDefined();
            expect(waits!.matches({ session: 'connected' }), 'the one still running thinks it is connected').toBe(false);
            oneGaveUp.count++;
            return;
          }
          expect(dead, 'connected through a relay that is gone').toBe(false);
          expect(delivered, `never connected end to end: ${states.map((s) => JSON.stringify(s.value)).join(' / ')}`).toBe(true);
          outcomes.hit('connected');
        }),
        { numRuns: RUNS },
      );
      console.log(`faults injected: ${faultsInjected.count}; one gave up during an outage, the other waits: ${oneGaveUp.count}`);
      outcomes.check();
      expect(outcomes.counts.connected).toBeGreaterThan(RUNS / 4);
      expect(faultsInjected.count).toBeGreaterThan(RUNS);
    },
    budgetMs(RUNS, 1_000),
  );
});
