/**
 * The app machine through `.provide()`, every effect a stand-in the test drives (no storage, no relay,
 * no sockets), on XState's SimulatedClock: the relay rule at start, the one-pairing-at-a-time (busy)
 * rule, close waiting for pending writes, and the relay status the host hears. Then the relay check the
 * app runs, on the same simulated clock. Deliberately few cases on events the app is likely to grow;
 * the façade over real parts is app.test.ts and its siblings.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, fromCallback, fromPromise, setup, SimulatedClock, waitFor, type AnyActorRef, type EventObject } from 'xstate';
import { relayCheck, RELAY_ANSWER_MS, RELAY_STRIKE_RETRY_MS, RELAY_UNREACHABLE_RETRY_MS, type RelayChecked } from '../src/app/relayCheck.js';
import type { Contact } from '../src/db/database.js';
import type { DocId } from '../src/db/documentStore.js';
import { DEFAULT_RELAY_SERVER, type SettingsDoc } from '../src/db/schema.js';
import type { SocketHandlers } from '../src/effects/socket.js';
import { InvalidArgumentError, RelayOutdatedError, RelayUnsupportedError, TimeoutError } from '../src/errors.js';
import { BARE_READERS_PROBLEM } from '../src/depot/wire.js';
import { appMachine, relayOutdatedOf, type AppEmitted, type AppInput } from '../src/machines/appMachine.js';
import type { PairingOutput } from '../src/machines/pairingMachine.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';

const RELAY = 'ws://relay.test/v1';

/** A promise the test settles. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const contact = (n: number): Contact =>
  ({ id: `contact-${n}` as DocId, kind: 'contact', moniker: `C${n}`, channels: [String(n).repeat(64).slice(0, 64)] }) as unknown as Contact;

/** The pairing child stand-in: ends with the output the test gives it. */
const pairingPuppet = setup({ types: { events: {} as { type: 'test.end'; output: PairingOutput }, context: {} as { output?: PairingOutput } } }).createMachine({
  context: {},
  initial: 'running',
  states: { running: { on: { 'test.end': { target: 'ended', actions: assign({ output: ({ event }) => event.output }) } } }, ended: { type: 'final' } },
  output: ({ context }) => context.output!,
});

function harness(options: { relay?: string; savedRelay?: string; contacts?: Contact[]; actors?: Record<string, unknown> } = {}) {
  const clock = new SimulatedClock();
  const links = new Map<string, { stopped: boolean }>();
  const checks: { sendBack: (e: RelayChecked) => void; stopped: boolean }[] = [];
  const pending = { saveContact: [] as ReturnType<typeof deferred<Contact>>[], sendMessage: [] as ReturnType<typeof deferred<unknown>>[] };
  let closed = 0;
  const settings = { kind: 'settings', relay_server: options.savedRelay ?? DEFAULT_RELAY_SERVER, ice_servers: [] } as unknown as SettingsDoc;
  const machine = appMachine.provide({
    actors: {
      openDatabase: fromPromise(async () => ({
        db: { docs: {}, storage: new MemoryStorage(), deviceId: 'd'.repeat(32) },
        contacts: options.contacts ?? [],
        settings,
        firstStart: true,
      })),
      contactLink: fromCallback(({ self }) => {
        const link = { stopped: false };
        links.set(self.id, link);
        return () => void (link.stopped = true);
      }),
      relayCheck: fromCallback(({ sendBack }) => {
        const check = { sendBack: sendBack as (e: RelayChecked) => void, stopped: false };
        checks.push(check);
        return () => void (check.stopped = true);
      }),
      pairing: pairingPuppet,
      saveContact: fromPromise(() => {
        const d = deferred<Contact>();
        pending.saveContact.push(d);
        return d.promise;
      }),
      sendMessage: fromPromise(() => {
        const d = deferred<unknown>();
        pending.sendMessage.push(d);
        return d.promise;
      }),
      closeStorage: fromPromise(async () => void closed++),
      ...options.actors,
    } as never,
  });
  const input = {
    storage: new MemoryStorage(),
    connector: () => ({}),
    randomBytes: (n: number) => new Uint8Array(n),
    appid: 'test',
    relay: options.relay,
  } as unknown as AppInput;
  const actor = createActor(machine, { clock, input });
  const emitted: AppEmitted[] = [];
  actor.on('*', (e) => emitted.push(e as AppEmitted));
  actor.start();
  const inState = (value: string) => waitFor(actor, (s) => JSON.stringify(s.value).includes(value));
  return {
    clock,
    actor,
    emitted,
    links,
    checks,
    pending,
    closed: () => closed,
    inState,
    ready: () => inState('"ready"'),
    pairingChild: () => actor.getSnapshot().children.pairing as AnyActorRef,
    /** The emitted events of these types, in order. */
    heard: (...types: AppEmitted['type'][]) => emitted.filter((e) => types.includes(e.type)),
  };
}

/** Lets settled promises reach the machine. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('appMachine: the relay rule at start', () => {
  it('no relay given and none saved: failed with InvalidArgumentError, nothing linked, nothing started', async () => {
    const h = harness({ contacts: [contact(1)] });
    await waitFor(h.actor, (s) => s.status === 'done');
    expect(h.actor.getSnapshot().value).toBe('failed');
    expect(h.actor.getSnapshot().context.error).toBeInstanceOf(InvalidArgumentError);
    expect(h.links.size).toBe(0);
    expect(h.checks).toHaveLength(0);
    expect(h.heard('started')).toEqual([]);
  });

  it('a relay saved before is enough: started, a link per contact and the relay check', async () => {
    const h = harness({ savedRelay: RELAY, contacts: [contact(1), contact(2)] });
    await h.ready();
    expect(h.heard('started')).toEqual([{ type: 'started', firstStart: true }]);
    expect([...h.links.keys()].sort()).toEqual(['link-contact-1', 'link-contact-2']);
    expect(h.checks).toHaveLength(1);
    h.actor.stop();
  });
});

describe('appMachine: removals (devices/notices.ts)', () => {
  it('a contact I remove is unlisted at once, its link runs on until a deposit holds my notice, then it is forgotten', async () => {
    const forgets: { heads?: string[] }[] = [];
    const checks: string[][] = [];
    const h = harness({
      relay: RELAY,
      contacts: [contact(1)],
      actors: {
        removeContact: fromPromise(async () => ({ leaving: { ...contact(1), removed_by: 'me' } })),
        // The first deposit was prepared before the notice: not yet.
        holdsRemoval: fromPromise(async ({ input }: { input: { heads: string[] } }) => (checks.push(input.heads), input.heads.includes('new'))),
        forgetContact: fromPromise(async ({ input }: { input: { heads?: string[] } }) => (forgets.push(input), true)),
      },
    });
    await h.ready();
    h.actor.send({ type: 'contact.remove', req: 1, contactId: 'contact-1' as DocId });
    await waitFor(h.actor, () => h.heard('contact.removed').length === 1);
    expect(h.actor.getSnapshot().context.contacts).toEqual([]);
    const link = h.links.get('link-contact-1')!;
    expect(link.stopped).toBe(false);
    h.actor.send({ type: 'contact.deposited', contactId: 'contact-1' as DocId, heads: ['old'] });
    await waitFor(h.actor, () => checks.length === 1 && JSON.stringify(h.actor.getSnapshot().value).includes('"contacts":"idle"'));
    // The same link runs on (never stopped), still leaving, and the host heard no `deposited` for it.
    expect(link.stopped).toBe(false);
    expect(h.links.get('link-contact-1')).toBe(link);
    expect(h.actor.getSnapshot().context.leaving.map((c) => c.id)).toEqual(['contact-1']);
    h.actor.send({ type: 'contact.deposited', contactId: 'contact-1' as DocId, heads: ['new'] });
    await waitFor(h.actor, (s) => s.context.leaving.length === 0 && JSON.stringify(s.value).includes('"contacts":"idle"'));
    expect(checks).toEqual([['old'], ['new']]);
    expect(forgets).toEqual([{ db: expect.anything(), contactId: 'contact-1', heads: ['new'] }]);
    expect(link.stopped).toBe(true);
    expect(h.heard('deposited', 'contact.left')).toEqual([]);
    h.actor.stop();
  });

  it('a contact I remove that has my notice by live SYNC is forgotten at once, no deposit awaited; shared heads without it change nothing', async () => {
    const forgets: { heads?: string[] }[] = [];
    const checks: string[][] = [];
    const h = harness({
      relay: RELAY,
      contacts: [contact(1), contact(2)],
      actors: {
        removeContact: fromPromise(async () => ({ leaving: { ...contact(1), removed_by: 'me' } })),
        holdsRemoval: fromPromise(async ({ input }: { input: { heads: string[] } }) => (checks.push(input.heads), input.heads.includes('notice'))),
        forgetContact: fromPromise(async ({ input }: { input: { heads?: string[] } }) => (forgets.push(input), true)),
      },
    });
    await h.ready();
    // A contact still listed: what its device has is no removal's business.
    h.actor.send({ type: 'contact.synced', contactId: 'contact-2' as DocId, heads: ['notice'] });
    h.actor.send({ type: 'contact.online', contactId: 'contact-1' as DocId, via: 'direct' });
    h.actor.send({ type: 'contact.remove', req: 1, contactId: 'contact-1' as DocId });
    await waitFor(h.actor, () => h.heard('contact.removed').length === 1);
    const link = h.links.get('link-contact-1')!;
    // The contact's device answered a message it had before my notice: the live link stays up.
    h.actor.send({ type: 'contact.synced', contactId: 'contact-1' as DocId, heads: ['before'] });
    await waitFor(h.actor, () => checks.length === 1 && JSON.stringify(h.actor.getSnapshot().value).includes('"contacts":"idle"'));
    expect(link.stopped).toBe(false);
    expect(h.actor.getSnapshot().context.leaving.map((c) => c.id)).toEqual(['contact-1']);
    // Its next answer has my notice: forgotten, the link stopped, with no deposit ever made.
    h.actor.send({ type: 'contact.synced', contactId: 'contact-1' as DocId, heads: ['notice'] });
    await waitFor(h.actor, (s) => s.context.leaving.length === 0 && JSON.stringify(s.value).includes('"contacts":"idle"'));
    expect(checks).toEqual([['before'], ['notice']]);
    expect(forgets).toEqual([{ db: expect.anything(), contactId: 'contact-1', heads: ['notice'] }]);
    expect(link.stopped).toBe(true);
    expect(h.links.get('link-contact-2')!.stopped).toBe(false);
    expect(h.actor.getSnapshot().context.contacts.map((c) => c.id)).toEqual(['contact-2']);
    h.actor.stop();
  });

  it('reports of what the contact holds queue behind the one being checked, the newest replacing one still waiting', async () => {
    const checks: string[][] = [];
    const gate = deferred<boolean>();
    const h = harness({
      relay: RELAY,
      contacts: [contact(1)],
      actors: {
        removeContact: fromPromise(async () => ({ leaving: { ...contact(1), removed_by: 'me' } })),
        holdsRemoval: fromPromise(
          ({ input }: { input: { heads: string[] } }) => (
            checks.push(input.heads),
            checks.length === 1 ? gate.promise : Promise.resolve(input.heads.includes('c'))
          ),
        ),
        forgetContact: fromPromise(async () => true),
      },
    });
    await h.ready();
    h.actor.send({ type: 'contact.remove', req: 1, contactId: 'contact-1' as DocId });
    await waitFor(h.actor, () => h.heard('contact.removed').length === 1);
    h.actor.send({ type: 'contact.synced', contactId: 'contact-1' as DocId, heads: ['a'] });
    await waitFor(h.actor, () => checks.length === 1);
    h.actor.send({ type: 'contact.synced', contactId: 'contact-1' as DocId, heads: ['b'] });
    h.actor.send({ type: 'contact.deposited', contactId: 'contact-1' as DocId, heads: ['c'] });
    gate.resolve(false);
    await waitFor(h.actor, (s) => s.context.leaving.length === 0 && JSON.stringify(s.value).includes('"contacts":"idle"'));
    expect(checks).toEqual([['a'], ['c']]);
    h.actor.stop();
  });

  it('removed by the contact: the card is kept marked, its link stops, the host hears it once; a device of mine removing it: forgotten', async () => {
    const h = harness({
      relay: RELAY,
      contacts: [contact(1), contact(2)],
      actors: {
        markRemovedByPeer: fromPromise(async () => ({ ...contact(1), removed_by: 'peer' })),
        forgetContact: fromPromise(async () => true),
      },
    });
    await h.ready();
    h.actor.send({ type: 'contact.online', contactId: 'contact-1' as DocId, via: 'relayed' });
    h.actor.send({ type: 'contact.left', contactId: 'contact-1' as DocId, by: 'peer' });
    h.actor.send({ type: 'contact.left', contactId: 'contact-1' as DocId, by: 'peer' }); // the same notice, read twice
    await waitFor(h.actor, () => h.heard('contact.left').length === 1 && JSON.stringify(h.actor.getSnapshot().value).includes('"contacts":"idle"'));
    expect(h.heard('contact.left')[0]).toMatchObject({ contactId: 'contact-1', by: 'peer', contact: { removed_by: 'peer' } });
    expect(h.links.get('link-contact-1')!.stopped).toBe(true);
    expect(h.actor.getSnapshot().context.presence).toEqual({});
    expect(h.actor.getSnapshot().context.contacts.map((c) => [c.id, c.removed_by])).toEqual([
      ['contact-2', undefined],
      ['contact-1', 'peer'],
    ]);
    h.actor.send({ type: 'contact.left', contactId: 'contact-2' as DocId, by: 'device' });
    await waitFor(h.actor, () => h.heard('contact.left').length === 2);
    expect(h.heard('contact.left')[1]).toEqual({ type: 'contact.left', contactId: 'contact-2', by: 'device' });
    expect(h.links.get('link-contact-2')!.stopped).toBe(true);
    // Offline and back: the contact who removed me gets no link again.
    h.actor.send({ type: 'network.offline' });
    h.links.clear();
    h.actor.send({ type: 'network.online' });
    await settle();
    expect([...h.links.keys()]).toEqual([]);
    h.actor.stop();
  });
});

describe('appMachine: one pairing at a time', () => {
  it('while inviting and while naming, another invite or accept is answered pairing.busy with its req; after, one is taken', async () => {
    const h = harness({ relay: RELAY });
    await h.ready();
    h.actor.send({ type: 'pairing.invite', req: 1 });
    h.actor.send({ type: 'pairing.invite', req: 2 });
    h.actor.send({ type: 'pairing.accept', req: 3, code: '7-a-b' });
    expect(h.heard('pairing.busy')).toEqual([
      { type: 'pairing.busy', req: 2 },
      { type: 'pairing.busy', req: 3 },
    ]);
    h.pairingChild().send({ type: 'test.end', output: { contactKey: new Uint8Array(32).fill(5), verifier: 'v', code: '7-a-b' } });
    await h.inState('"naming"');
    h.actor.send({ type: 'pairing.accept', req: 4, code: '8-c-d' });
    expect(h.heard('pairing.busy').map((e) => (e as { req: number }).req)).toEqual([2, 3, 4]);
    h.pending.saveContact[0]!.resolve(contact(9));
    await h.inState('"pairing":"idle"');
    expect(h.heard('contact.paired')).toMatchObject([{ type: 'contact.paired', req: 1, verifier: 'v', contact: { id: 'contact-9' } }]);
    expect(h.links.has('link-contact-9')).toBe(true);
    h.actor.send({ type: 'pairing.invite', req: 5 });
    expect(JSON.stringify(h.actor.getSnapshot().value)).toContain('"pairing":{"inviting"');
    expect(h.heard('pairing.busy')).toHaveLength(3);
    h.actor.stop();
  });

  it('a failed pairing is answered pairing.failed with its req and frees the slot', async () => {
    const h = harness({ relay: RELAY });
    await h.ready();
    h.actor.send({ type: 'pairing.accept', req: 7, code: '7-a-b' });
    const error = new TimeoutError('nobody came', { phase: 'waiting for the other side', ms: 1 });
    h.pairingChild().send({ type: 'test.end', output: { error } });
    await h.inState('"pairing":"idle"');
    expect(h.heard('pairing.failed')).toEqual([{ type: 'pairing.failed', req: 7, error }]);
    h.actor.stop();
  });
});

describe('appMachine: close', () => {
  it('waits for a message being written: message.sent first, then storage closes once, links stopped', async () => {
    const h = harness({ relay: RELAY, contacts: [contact(1)] });
    await h.ready();
    h.actor.send({ type: 'message.send', req: 1, contactId: 'contact-1' as DocId, message: { text: 'hi' } });
    h.actor.send({ type: 'CLOSE' });
    await settle();
    expect(JSON.stringify(h.actor.getSnapshot().value)).toContain('"messages":"sending"');
    expect(h.closed()).toBe(0);
    h.pending.sendMessage[0]!.resolve({ text: 'hi' });
    await waitFor(h.actor, (s) => s.status === 'done');
    expect(h.actor.getSnapshot().value).toBe('closed');
    expect(h.heard('message.sent')).toHaveLength(1);
    expect(h.closed()).toBe(1);
    expect(h.links.get('link-contact-1')!.stopped).toBe(true);
    expect(h.checks[0]!.stopped).toBe(true);
  });

  it("waits for a paired contact's card to be saved", async () => {
    const h = harness({ relay: RELAY });
    await h.ready();
    h.actor.send({ type: 'pairing.invite', req: 1 });
    h.pairingChild().send({ type: 'test.end', output: { contactKey: new Uint8Array(32).fill(5), verifier: 'v' } });
    await h.inState('"naming"');
    h.actor.send({ type: 'CLOSE' });
    await settle();
    expect(h.closed()).toBe(0);
    h.pending.saveContact[0]!.resolve(contact(3));
    await waitFor(h.actor, (s) => s.status === 'done');
    expect(h.heard('contact.paired')).toHaveLength(1);
    expect(h.closed()).toBe(1);
  });
});

describe('appMachine: the relay status the host hears', () => {
  it('reachable while any link is up, unreachable when all are down, unsupported from the check, unknown offline', async () => {
    const h = harness({ relay: RELAY, contacts: [contact(1), contact(2)] });
    await h.ready();
    const relay = (contactId: string, up: boolean) => h.actor.send({ type: 'contact.relay', contactId: contactId as DocId, up });
    relay('contact-1', true);
    relay('contact-2', false); // one down, one up: still reachable, nothing new to say
    relay('contact-1', false);
    relay('contact-2', true);
    const unsupported = new RelayUnsupportedError(RELAY, 'test');
    h.actor.send({ type: 'relay.checked', unsupported });
    h.actor.send({ type: 'network.offline' });
    expect(h.heard('relay')).toEqual([
      { type: 'relay', status: 'reachable' },
      { type: 'relay', status: 'unreachable' },
      { type: 'relay', status: 'reachable' },
      { type: 'relay', status: 'unsupported', error: unsupported },
      { type: 'relay', status: 'unknown' },
    ]);
    expect([...h.links.values()].every((l) => l.stopped)).toBe(true);
    h.actor.stop();
  });
});

describe('appMachine: a relay from before reader tokens', () => {
  it('warns the host once per relay, whichever links find it and however often links restart; a new relay is asked afresh', async () => {
    const OTHER = 'ws://other-relay.test/v1';
    const h = harness({
      savedRelay: RELAY,
      contacts: [contact(1), contact(2)],
      actors: { saveSettings: fromPromise(async () => ({ kind: 'settings', relay_server: OTHER, ice_servers: [] }) as unknown as SettingsDoc) },
    });
    await h.ready();
    const outdated = (contactId: string) => h.actor.send({ type: 'contact.relayOutdated', contactId: contactId as DocId, reason: BARE_READERS_PROBLEM });
    outdated('contact-1');
    outdated('contact-2');
    outdated('contact-1'); // a reconnect meets it again
    const warned = h.heard('relayOutdated') as { error: RelayOutdatedError }[];
    expect(warned).toHaveLength(1);
    expect(warned[0]!.error).toBeInstanceOf(RelayOutdatedError);
    // The relay as the settings name it (what the host configured), not the links' DISCOVER address.
    expect(warned[0]!.error.data).toEqual({ relay: RELAY, reason: BARE_READERS_PROBLEM });
    expect(relayOutdatedOf(h.actor.getSnapshot().context)).toBe(warned[0]!.error);
    // Offline and back (every link restarts): the same relay, still outdated, not told again.
    h.actor.send({ type: 'network.offline' });
    h.actor.send({ type: 'network.online' });
    outdated('contact-2');
    expect(h.heard('relayOutdated')).toHaveLength(1);
    expect(relayOutdatedOf(h.actor.getSnapshot().context)).toBe(warned[0]!.error);
    // Another relay: the warning about the first holds no more; a link that finds this one outdated too tells again.
    h.actor.send({ type: 'settings.update', req: 1, patch: { relay_server: OTHER } });
    await waitFor(h.actor, (s) => s.context.settings?.relay_server === OTHER);
    expect(relayOutdatedOf(h.actor.getSnapshot().context)).toBeUndefined();
    outdated('contact-1');
    const again = h.heard('relayOutdated') as { error: RelayOutdatedError }[];
    expect(again).toHaveLength(2);
    expect(again[1]!.error.data).toEqual({ relay: OTHER, reason: BARE_READERS_PROBLEM });
    h.actor.stop();
  });
});

describe('appMachine: the transfers the host hears', () => {
  it('maps each file event of a link to a transfer event; a file waiting for a peer without file support says why', async () => {
    const h = harness({ relay: RELAY, contacts: [contact(1)] });
    await h.ready();
    const contactId = 'contact-1' as DocId;
    const reason = 'their device takes no files yet';
    h.actor.send({ type: 'contact.file', contactId, file: { type: 'file.waiting', hash: 'ab', direction: 'out', total: 5, reason } });
    h.actor.send({ type: 'contact.file', contactId, file: { type: 'file.progress', hash: 'ab', direction: 'out', done: 2, total: 5 } });
    h.actor.send({ type: 'contact.file', contactId, file: { type: 'file.done', hash: 'ab', direction: 'out', total: 5 } });
    expect(h.heard('transfer')).toEqual([
      { type: 'transfer', contactId, hash: 'ab', direction: 'out', status: 'waiting', done: 0, total: 5, route: 'device', reason },
      { type: 'transfer', contactId, hash: 'ab', direction: 'out', status: 'progress', done: 2, total: 5 },
      { type: 'transfer', contactId, hash: 'ab', direction: 'out', status: 'done', done: 5, total: 5 },
    ]);
    h.actor.stop();
  });
});

/** The relay check on a simulated clock, with sockets the test answers. */
function checkHarness() {
  const clock = new SimulatedClock();
  const asked: { url: string; handlers: SocketHandlers; closed: boolean; at: number }[] = [];
  const results: RelayChecked[] = [];
  const parent = setup({ actors: { relayCheck } }).createMachine({
    invoke: {
      src: 'relayCheck',
      input: {
        relay: RELAY,
        clock,
        connector: (url: string, handlers: SocketHandlers) => {
          const socket = { url, handlers, closed: false, at: clock.now() };
          asked.push(socket);
          return { send: () => {}, close: () => void (socket.closed = true) };
        },
      },
    },
    on: { 'relay.checked': { actions: ({ event }: { event: EventObject }) => void results.push(event as RelayChecked) } },
  });
  const actor = createActor(parent, { clock });
  actor.start();
  return { clock, asked, results, actor, last: () => asked.at(-1)! };
}

describe('the relay check (simulated clock)', () => {
  it('DISCOVER closing early twice while the mailbox answers: unsupported, after one strike pause', async () => {
    const h = checkHarness();
    const discover = h.last();
    expect(discover.url).toBe('ws://relay.test/backchannel/v2');
    discover.handlers.onClose({ code: 1006 });
    await settle();
    expect(h.last().url).toBe(RELAY);
    h.last().handlers.onMessage('{"type":"welcome","welcome":{}}');
    await settle();
    const pausedAt = h.clock.now();
    h.clock.increment(RELAY_STRIKE_RETRY_MS - 1);
    await settle();
    expect(h.asked).toHaveLength(2);
    h.clock.increment(1);
    await settle();
    expect(h.asked).toHaveLength(3);
    expect(h.last().at - pausedAt).toBe(RELAY_STRIKE_RETRY_MS);
    h.last().handlers.onClose({ code: 1006 });
    await settle();
    h.last().handlers.onMessage('{"type":"welcome","welcome":{}}');
    await settle();
    expect(h.results).toHaveLength(1);
    expect(h.results[0]!.unsupported).toBeInstanceOf(RelayUnsupportedError);
    expect(h.asked.every((s) => s.closed)).toBe(true);
    h.actor.stop();
  });

  it('a relay that answers nothing: each ask gives up after RELAY_ANSWER_MS, then a quiet pause of RELAY_UNREACHABLE_RETRY_MS, no verdict', async () => {
    const h = checkHarness();
    h.clock.increment(RELAY_ANSWER_MS - 1);
    await settle();
    expect(h.asked).toHaveLength(1);
    h.clock.increment(1);
    await settle();
    expect(h.asked).toHaveLength(2); // the mailbox, to tell "not there" from "unreachable"
    h.clock.increment(RELAY_ANSWER_MS);
    await settle();
    h.clock.increment(RELAY_UNREACHABLE_RETRY_MS - 1);
    await settle();
    expect(h.asked).toHaveLength(2);
    h.clock.increment(1);
    await settle();
    expect(h.asked).toHaveLength(3);
    expect(h.results).toEqual([]);
    // And when DISCOVER answers at last, it is supported.
    h.last().handlers.onMessage('{"type":"pong"}');
    await settle();
    expect(h.results).toEqual([{ type: 'relay.checked' }]);
    h.actor.stop();
  });

  it('stopped mid-pause, it asks nothing more', async () => {
    const h = checkHarness();
    h.last().handlers.onClose({ code: 1006 });
    await settle();
    h.last().handlers.onClose({ code: 1006 }); // the mailbox too: unreachable, a long pause
    await settle();
    h.actor.stop();
    h.clock.increment(10 * RELAY_UNREACHABLE_RETRY_MS);
    await settle();
    expect(h.asked).toHaveLength(2);
  });
});
