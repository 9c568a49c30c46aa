/**
 * The SYNC machine on XState's SimulatedClock, its Automerge `engine` actor `.provide()`d as a stand-in
 * the test drives: the hello timeout (and that it closes the channel), the phases as the engine reports
 * work, and how it ends. The real engine over real channels is sync.test.ts and sync-convergence.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import type { DocumentStore } from '../src/db/documentStore.js';
import { ProtocolError, TimeoutError } from '../src/errors.js';
import { syncMachine, type SyncInput } from '../src/machines/syncMachine.js';
import type { EngineEvent } from '../src/sync/syncEngine.js';

function harness(input: Partial<SyncInput> = {}) {
  const clock = new SimulatedClock();
  const link = new MemoryLink();
  const engine = { sendBack: (_: EngineEvent) => {}, started: 0, stopped: 0 };
  const machine = syncMachine.provide({
    actors: {
      engine: fromCallback(({ sendBack }) => {
        engine.sendBack = sendBack as typeof engine.sendBack;
        engine.started++;
        return () => void engine.stopped++;
      }),
    } as never,
  });
  const actor = createActor(machine, {
    clock,
    input: { docs: {} as DocumentStore, storage: new MemoryStorage(), channel: link.a, deviceId: 'd'.repeat(32), docIds: [], ...input },
  });
  const closes: string[] = [];
  link.a.on('close', (reason) => closes.push(reason));
  actor.start();
  return { clock, actor, link, engine, closes, state: () => JSON.stringify(actor.getSnapshot().value) };
}

describe('syncMachine (simulated clock)', () => {
  it('no hello within 30 s: fails with TimeoutError, closes the channel and stops the engine', () => {
    const h = harness();
    h.clock.increment(29_999);
    expect(h.state()).toBe('"greeting"');
    expect(h.closes).toEqual([]);
    h.clock.increment(1);
    expect(h.state()).toBe('"failed"');
    expect(h.closes).toEqual(['hello timeout']);
    expect(h.engine.stopped).toBe(1);
    const { error } = h.actor.getSnapshot().output!;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error!.data).toMatchObject({ phase: 'sync hello', ms: 30_000 });
  });

  it('helloTimeoutMs sets the wait', () => {
    const h = harness({ helloTimeoutMs: 500 });
    h.clock.increment(499);
    expect(h.state()).toBe('"greeting"');
    h.clock.increment(1);
    expect(h.state()).toBe('"failed"');
  });

  it('a hello in time cancels the timeout; then exchanging ⇄ inSync follows the engine', () => {
    const h = harness();
    h.clock.increment(29_999);
    h.engine.sendBack({ type: 'engine.hello', peer: 'peer-device' });
    expect(h.state()).toBe('{"syncing":"exchanging"}');
    h.clock.increment(10 * 30_000);
    expect(h.state()).toBe('{"syncing":"exchanging"}');
    expect(h.closes).toEqual([]);
    h.engine.sendBack({ type: 'engine.idle' });
    expect(h.state()).toBe('{"syncing":"inSync"}');
    h.engine.sendBack({ type: 'engine.busy' });
    expect(h.state()).toBe('{"syncing":"exchanging"}');
    h.engine.sendBack({ type: 'engine.idle' });
    expect(h.state()).toBe('{"syncing":"inSync"}');
    expect(h.actor.getSnapshot().context.peer).toBe('peer-device');
    h.actor.stop();
  });

  it('the engine closing ends it closed with the reason and the peer; an engine error ends it failed', () => {
    const h = harness();
    h.engine.sendBack({ type: 'engine.hello', peer: 'peer-device' });
    h.engine.sendBack({ type: 'engine.closed', reason: 'peer closed' });
    expect(h.state()).toBe('"closed"');
    expect(h.actor.getSnapshot().output).toEqual({ peer: 'peer-device', reason: 'peer closed', error: undefined });
    expect(h.engine.stopped).toBe(1);

    const f = harness();
    const error = new ProtocolError('a malformed sync message');
    f.engine.sendBack({ type: 'engine.error', error });
    expect(f.state()).toBe('"failed"');
    expect(f.actor.getSnapshot().output!.error).toBe(error);
    // Failing over the engine's error is not a hello timeout: the channel is the engine's to close.
    f.clock.increment(60_000);
    expect(f.closes).toEqual([]);
  });
});
