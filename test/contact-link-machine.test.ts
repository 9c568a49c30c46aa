/**
 * The contact link machine on XState's SimulatedClock, under a parent that records what the link tells
 * it, with its children `.provide()`d as stand-ins the test drives: DISCOVER (reports channels, gives
 * up), SYNC (ends on cue) and the depot (records whether it deposits). Checked: which children run in
 * which state, what the app hears (online / offline / relay / deposited / refused), and the minute of
 * rest after DISCOVER gave up. The real link runs in the app tests (app.test.ts, app-processes.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, sendParent, setup, SimulatedClock, type AnyActorRef, type EventObject } from 'xstate';

/** An event a child tells the link, with whatever fields it carries. */
type Said = EventObject & Record<string, unknown>;
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import type { DocId, DocumentStore } from '../src/db/documentStore.js';
import type { Transport } from '../src/effects/transport.js';
import { contactLinkMachine, LINK_REST_MS, type ContactLinkInput } from '../src/machines/contactLinkMachine.js';
import type { DepotInput } from '../src/depot/depotMachine.js';

/** A child stand-in: passes `test.say` events to its parent, ends on `test.end`. */
const puppet = setup({ types: { events: {} as { type: 'test.say'; event: EventObject } | { type: 'test.end' } } }).createMachine({
  initial: 'running',
  states: {
    running: { on: { 'test.say': { actions: sendParent(({ event }) => event.event) }, 'test.end': 'ended' } },
    ended: { type: 'final' },
  },
});

const contactId = 'contact-1' as DocId;

function harness() {
  const clock = new SimulatedClock();
  const depots: { deposit: boolean; stopped: boolean; sendBack: (e: Said) => void }[] = [];
  const link = contactLinkMachine.provide({
    actors: {
      discover: puppet,
      sync: puppet.provide({}) as never,
      files: puppet.provide({}) as never,
      depot: fromCallback(({ input, sendBack }) => {
        const d = { deposit: (input as DepotInput).deposit !== false, stopped: false, sendBack };
        depots.push(d);
        return () => void (d.stopped = true);
      }),
    } as never,
  });
  const heard: EventObject[] = [];
  const parent = setup({ actors: { link } }).createMachine({
    invoke: { id: 'link', src: 'link', input: () => input },
    // What the link tells the app (its own end, `xstate.done.actor.link`, is not news for the app).
    on: { '*': { actions: ({ event }) => void (event.type.startsWith('xstate.') || heard.push(event)) } },
  });
  const input: ContactLinkInput = {
    contactId,
    channelId: 'channel-1' as DocId,
    discover: {
      contactKey: new Uint8Array(32),
      url: 'ws://relay.test/backchannel/v2',
      connector: () => {
        throw new Error('provided');
      },
      randomBytes: (n) => new Uint8Array(n),
    },
    docs: {} as DocumentStore,
    storage: new MemoryStorage(),
    deviceId: 'd'.repeat(32),
  };
  const actor = createActor(parent, { clock });
  actor.start();
  const linkRef = () => actor.getSnapshot().children.link as AnyActorRef;
  const child = (id: string) => linkRef().getSnapshot().children[id] as AnyActorRef | undefined;
  const running = () => depots.filter((d) => !d.stopped).map((d) => (d.deposit ? 'deposit' : 'collect'));
  return {
    clock,
    heard,
    depots,
    running,
    child,
    state: () => JSON.stringify(linkRef().getSnapshot().value),
    /** DISCOVER tells the link something. */
    discover: (event: Said) => child('discover')!.send({ type: 'test.say', event }),
    connected: (channel: Transport, via: 'direct' | 'relayed' = 'direct', peer = 'p1') =>
      child('discover')!.send({ type: 'test.say', event: { type: 'link.connected', peer, channel, via } }),
    stop: () => actor.stop(),
    link: linkRef,
  };
}

describe('contactLinkMachine (simulated clock)', () => {
  it('searching deposits; a channel makes it connected: online heard, SYNC on that channel, the depot only collects', () => {
    const h = harness();
    expect(h.state()).toBe('{"linking":"searching"}');
    expect(h.running()).toEqual(['deposit']);
    const channel = new MemoryLink().a;
    h.connected(channel, 'relayed');
    expect(h.state()).toBe('{"linking":"connected"}');
    expect(h.heard).toEqual([{ type: 'contact.online', contactId, via: 'relayed' }]);
    expect(h.running()).toEqual(['collect']);
    expect(h.child('sync-p1')).toBeDefined();
    expect(h.child('files-p1')).toBeDefined(); // the file session runs beside SYNC
    expect(h.link().getSnapshot().context.peers).toEqual({ p1: { channel, via: 'relayed' } });
    h.stop();
  });

  it('DISCOVER losing the channel: offline heard once, back to searching and depositing, SYNC stopped', () => {
    const h = harness();
    h.connected(new MemoryLink().a);
    h.discover({ type: 'link.disconnected', peer: 'p1', reason: 'peer left' });
    expect(h.state()).toBe('{"linking":"searching"}');
    expect(h.heard.map((e) => e.type)).toEqual(['contact.online', 'contact.offline']);
    expect(h.child('sync-p1')).toBeUndefined();
    expect(h.child('files-p1')).toBeUndefined();
    expect(h.running()).toEqual(['deposit']);
    h.stop();
  });

  it('SYNC ending by itself also goes back to searching (offline heard), DISCOVER keeps running', () => {
    const h = harness();
    const discover = h.child('discover');
    h.connected(new MemoryLink().a);
    h.child('sync-p1')!.send({ type: 'test.end' });
    expect(h.state()).toBe('{"linking":"searching"}');
    expect(h.heard.map((e) => e.type)).toEqual(['contact.online', 'contact.offline']);
    expect(h.child('discover')).toBe(discover);
    h.stop();
  });

  it("a peer's new channel while connected restarts its SYNC on it, presence unchanged, DISCOVER left alone", () => {
    const h = harness();
    const discover = h.child('discover');
    h.connected(new MemoryLink().a);
    const firstSync = h.child('sync-p1');
    const second = new MemoryLink().a;
    h.connected(second, 'direct');
    expect(h.child('sync-p1')).not.toBe(firstSync);
    expect(firstSync!.getSnapshot().status).toBe('stopped');
    expect(h.link().getSnapshot().context.peers['p1']!.channel).toBe(second);
    expect(h.child('discover')).toBe(discover);
    expect(h.heard.map((e) => e.type)).toEqual(['contact.online']);
    expect(h.running()).toEqual(['collect']);
    h.stop();
  });

  it('a SYNC and a file session per connected device; online until the last one goes, `via` direct while any is', () => {
    const h = harness();
    h.connected(new MemoryLink().a, 'relayed', 'alice');
    h.connected(new MemoryLink().a, 'direct', 'alice2');
    expect(h.state()).toBe('{"linking":"connected"}');
    for (const id of ['sync-alice', 'files-alice', 'sync-alice2', 'files-alice2']) expect(h.child(id), id).toBeDefined();
    expect(h.heard).toEqual([
      { type: 'contact.online', contactId, via: 'relayed' },
      { type: 'contact.online', contactId, via: 'direct' },
    ]);
    // Alice2's SYNC ends by itself: only her children go, and presence falls back to relayed.
    h.child('sync-alice2')!.send({ type: 'test.end' });
    expect(h.child('files-alice2')).toBeUndefined();
    expect(h.child('sync-alice')).toBeDefined();
    expect(h.state()).toBe('{"linking":"connected"}');
    h.connected(new MemoryLink().a, 'relayed', 'alice3');
    h.discover({ type: 'link.disconnected', peer: 'alice', reason: 'Alice went' });
    expect(h.child('sync-alice')).toBeUndefined();
    expect(h.child('sync-alice3')).toBeDefined();
    expect(h.state()).toBe('{"linking":"connected"}');
    h.discover({ type: 'link.disconnected', peer: 'alice3', reason: 'Alice3 went' });
    expect(h.state()).toBe('{"linking":"searching"}');
    expect(h.heard.slice(2)).toEqual([
      { type: 'contact.online', contactId, via: 'relayed' },
      { type: 'contact.offline', contactId },
    ]);
    expect(h.running()).toEqual(['deposit']);
    h.stop();
  });

  it('DISCOVER giving up: resting (still depositing) for LINK_REST_MS, then a fresh DISCOVER', () => {
    const h = harness();
    const first = h.child('discover');
    first!.send({ type: 'test.end' });
    expect(h.state()).toBe('"resting"');
    expect(h.running()).toEqual(['deposit']);
    h.clock.increment(LINK_REST_MS - 1);
    expect(h.state()).toBe('"resting"');
    h.clock.increment(1);
    expect(h.state()).toBe('{"linking":"searching"}');
    expect(h.child('discover')).toBeDefined();
    expect(h.child('discover')).not.toBe(first);
    expect(h.running()).toEqual(['deposit']);
    h.stop();
  });

  it("passes the depot's news to the app under the contact's id", () => {
    const h = harness();
    const depot = h.depots[0]!;
    depot.sendBack({ type: 'link.relay', up: true });
    depot.sendBack({ type: 'link.deposited', heads: ['h1'] });
    depot.sendBack({ type: 'link.refused', reason: 'quota' });
    depot.sendBack({ type: 'link.relay', up: false });
    expect(h.heard).toEqual([
      { type: 'contact.relay', contactId, up: true },
      { type: 'contact.deposited', contactId, heads: ['h1'] },
      { type: 'contact.refused', contactId, reason: 'quota' },
      { type: 'contact.relay', contactId, up: false },
    ]);
    h.stop();
  });

  it("passes the file session's news to the app, a file waiting for a peer without file support included", () => {
    const h = harness();
    h.connected(new MemoryLink().a);
    const files = h.child('files-p1')!;
    const waiting = { type: 'file.waiting', hash: 'ab', direction: 'out', total: 5, reason: 'their device takes no files yet' };
    const done = { type: 'file.done', hash: 'ab', direction: 'out', total: 5 };
    files.send({ type: 'test.say', event: waiting });
    files.send({ type: 'test.say', event: done });
    expect(h.heard.slice(1)).toEqual([
      { type: 'contact.file', contactId, file: waiting },
      { type: 'contact.file', contactId, file: done },
    ]);
    h.stop();
  });

  it('STOP ends it and every child: nothing more is heard', () => {
    const h = harness();
    h.connected(new MemoryLink().a);
    h.link().send({ type: 'STOP' });
    expect(h.state()).toBe('"stopped"');
    expect(h.running()).toEqual([]);
    expect(h.child('discover')).toBeUndefined();
    expect(h.heard.map((e) => e.type)).toEqual(['contact.online', 'contact.offline']);
    expect(h.link().getSnapshot().status).toBe('done');
    h.stop();
  });
});
