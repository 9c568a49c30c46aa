/**
 * What a contact's changes may do to our documents (db/peerRules.ts, db/documentStore.ts): a malicious
 * peer, a raw Automerge replica behind the real sync engine with no validation of its own, makes
 * arbitrary changes to the shared channel (extra fields, edits and deletions of our messages and its
 * own, forged senders, reused ids, over-long text, too many messages, too many bytes, a replaced list,
 * a changed kind) and syncs them to an honest device over a MemoryLink. The honest device's document
 * never holds anything the rules forbid, its own messages are never lost, a refusal ends the sync
 * with a typed error and leaves the stored document as it was, and the peer's legitimate messages
 * sent before its first forbidden one arrive.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { createActor, waitFor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { Database, documentId } from '../src/db/database.js';
import { DocumentStore, type DocId } from '../src/db/documentStore.js';
import { LIMITS, textOf, validate, type DocumentLimits } from '../src/db/schema.js';
import type { Transport } from '../src/effects/transport.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { BackchannelError, InvalidArgumentError, ProtocolError, TooLargeError } from '../src/errors.js';
import { syncMachine } from '../src/machines/syncMachine.js';
import { encodeHello } from '../src/sync/frame.js';
import { startSyncEngine, type EngineEvent } from '../src/sync/syncEngine.js';
import { Branches, budgetMs } from './helpers/branches.js';
import { vectorEntropy } from './helpers/entropy.js';
import { FC_RUNS } from './helpers/runs.js';

/** Enough runs for each of the 14 forbidden kinds to come first in some of them. */
const RUNS = Math.max(150, FC_RUNS);

const settle = () => new Promise((r) => setImmediate(r));
const atom = (s: string) => new A.ImmutableString(s);

type Msg = { id: A.ImmutableString; timestamp: number; sender: A.ImmutableString; text: A.ImmutableString; [k: string]: unknown };
type RawChannel = { kind: string; schema: number; messages: Msg[]; [k: string]: unknown };
/** Automerge's list methods on a list inside a change. */
const list = (d: RawChannel) => d.messages as unknown as Msg[] & { insertAt(i: number, ...v: Msg[]): void; deleteAt(i: number): void };

/**
 * A replica that changes its copy of a document however it likes and syncs it with the real engine.
 * Its "document store" applies whatever arrives and validates nothing.
 */
class RawPeer {
  doc: A.Doc<RawChannel>;
  readonly deviceId: string;
  readonly #listeners = new Set<(id: DocId) => void>();
  readonly #id: DocId;
  readonly #random: (n: number) => Uint8Array;
  idle = true;

  constructor(id: DocId, doc: A.Doc<unknown>, deviceId: string, random: (n: number) => Uint8Array) {
    this.#id = id;
    this.doc = A.clone(doc as A.Doc<RawChannel>, { actor: toHex(random(16)) });
    this.deviceId = deviceId;
    this.#random = random;
  }

  newId(): string {
    return toHex(this.#random(16));
  }

  message(text: string, sender = this.deviceId, id = this.newId()): Msg {
    return { id: atom(id), timestamp: 1, sender: atom(sender), text: atom(text) };
  }

  change(fn: (d: RawChannel) => void): void {
    this.doc = A.change(this.doc, fn);
    for (const l of this.#listeners) l(this.#id);
  }

  /** Run the real sync engine on `channel` over this raw document. */
  sync(channel: Transport): () => void {
    const store = {
      get: () => this.doc,
      update: async (_id: DocId, produce: (d: A.Doc<unknown>) => A.Doc<unknown>) => {
        this.doc = produce(this.doc) as A.Doc<RawChannel>;
        return { accepted: true, problems: [] };
      },
      onChange: (l: (id: DocId) => void) => {
        this.#listeners.add(l);
        return () => this.#listeners.delete(l);
      },
    } as unknown as DocumentStore;
    return startSyncEngine({
      docs: store,
      storage: new MemoryStorage(),
      channel,
      deviceId: this.deviceId,
      docIds: [this.#id],
      emit: (e: EngineEvent) => {
        if (e.type === 'engine.busy') this.idle = false;
        if (e.type === 'engine.idle' || e.type === 'engine.closed' || e.type === 'engine.error') this.idle = true;
      },
    });
  }
}

const BAD = [
  'extra root field',
  'extra message field',
  'edit our message',
  'delete our message',
  'edit its own earlier message',
  'forged sender (us)',
  'sender not the peer',
  'reused id',
  'text over the limit',
  'too many messages',
  'too many bytes',
  'replace the list',
  'change the kind',
  'bad field type',
] as const;
type Bad = (typeof BAD)[number];
type Action = { type: 'legit'; texts: string[]; front: boolean } | { type: 'bad'; what: Bad; pick: number } | { type: 'quiet' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant('legit' as const),
      texts: fc.array(fc.string({ maxLength: 16 }), { minLength: 1, maxLength: 3 }),
      front: fc.boolean(),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ type: fc.constant('bad' as const), what: fc.constantFrom(...BAD), pick: fc.nat(50) }), weight: 3 },
  { arbitrary: fc.constant({ type: 'quiet' as const }), weight: 1 },
);
const scenario = fc.record({
  seed: fc.string({ maxLength: 6 }),
  rounds: fc.array(fc.record({ honest: fc.option(fc.string({ maxLength: 16 }), { nil: undefined }), peer: action }), { minLength: 1, maxLength: 6 }),
});

const TEST_LIMITS: DocumentLimits = { messages: 30, documentBytes: 256 * 1024 };

/** Make the forbidden change `what` on the peer's replica; returns what it did (a fallback when `what` has no target). */
function misbehave(peer: RawPeer, what: Bad, pick: number, honestId: string): Bad {
  const msgs = () => peer.doc.messages;
  const ours = () => msgs().flatMap((m, i) => (textOf(m.sender) === honestId ? [i] : []));
  const own = () => msgs().flatMap((m, i) => (textOf(m.sender) === peer.deviceId ? [i] : []));
  const at = (list: number[]) => list[pick % list.length]!;
  const done = (fn: (d: RawChannel) => void) => (peer.change(fn), what);
  if ((what === 'edit our message' || what === 'delete our message') && ours().length === 0) return misbehave(peer, 'extra root field', pick, honestId);
  // Needs an own message the honest side already has (an earlier round).
  if (what === 'edit its own earlier message' && own().length === 0) return misbehave(peer, 'edit our message', pick, honestId);
  switch (what) {
    case 'extra root field':
      return done((d) => void (d.extra = { note: 'hello' }));
    case 'extra message field':
      return done((d) => void d.messages.push({ ...peer.message('with a colour'), colour: 'red' }));
    case 'edit our message':
      return done((d) => void (d.messages[at(ours())]!.text = atom(`edited by the peer ${pick}`)));
    case 'delete our message':
      return done((d) => void list(d).deleteAt(at(ours())));
    case 'edit its own earlier message':
      return done((d) => void (d.messages[at(own())]!.timestamp = 2 + pick));
    case 'forged sender (us)':
      return done((d) => void d.messages.push(peer.message('I am you', honestId)));
    case 'sender not the peer':
      return done((d) => void d.messages.push(peer.message('from nobody', toHex(cryptoRandomBytes(16)))));
    case 'reused id':
      return done((d) => void d.messages.push(peer.message('same id', peer.deviceId, textOf(d.messages[pick % d.messages.length]!.id)!)));
    case 'text over the limit':
      return done((d) => void d.messages.push(peer.message('x'.repeat(LIMITS.text + 1))));
    case 'too many messages':
      return done((d) => {
        while (d.messages.length <= TEST_LIMITS.messages) d.messages.push(peer.message('one more'));
      });
    case 'too many bytes':
      return done((d) => {
        for (let i = 0; i * 60_000 <= TEST_LIMITS.documentBytes; i++) d.messages.push(peer.message(toHex(cryptoRandomBytes(30_000))));
      });
    case 'replace the list':
      return done((d) => void (d.messages = [peer.message('all new')] as never));
    case 'change the kind':
      return done((d) => void (d.kind = 'contact'));
    case 'bad field type':
      return done((d) => void d.messages.push({ ...peer.message('negative time'), timestamp: -pick - 1 }));
  }
}

async function honestDevice(limits: Partial<DocumentLimits>, random?: (n: number) => Uint8Array) {
  return Database.open({ storage: new MemoryStorage(), randomBytes: random, limits, compactEvery: 8 });
}

describe('a contact may only add its own messages', () => {
  it(
    `a malicious peer cannot make the honest device store what the rules forbid (${RUNS} runs)`,
    async () => {
      const branches = new Branches('malicious peer', [
        ...BAD.map((b) => `refused: ${b}` as const),
        'legit delivered',
        'refused again on reconnect',
        'ProtocolError',
        'TooLargeError',
      ] as const);
      await fc.assert(
        fc.asyncProperty(scenario, async ({ seed, rounds }) => {
          const random = vectorEntropy(`peer-document/${seed}`);
          const key = random(32);
          const channelId = documentId(key);
          const honest = await honestDevice(TEST_LIMITS, random);
          const peerDb = await honestDevice(TEST_LIMITS, random);
          await honest.addContact({ moniker: 'Peer', contactKey: key });
          await peerDb.addContact({ moniker: 'Honest', contactKey: key });
          const peer = new RawPeer(channelId, peerDb.docs.get(channelId), peerDb.deviceId, random);

          const ourTexts = new Map<string, string>(); // what we sent: id → text
          const peerLegit = new Map<string, string>(); // what the peer added before its first forbidden change: id → text
          const seen = new Map<string, string>(); // every message the honest device ever held, as it was
          let poisoned = false;
          let link: MemoryLink | undefined;
          let actor: ReturnType<typeof createActor<typeof syncMachine>> | undefined;
          let stopPeer = () => {};
          const connect = () => {
            link = new MemoryLink({ maxFrameBytes: 16 * 1024 });
            actor = createActor(syncMachine, {
              input: { docs: honest.docs, storage: honest.storage, channel: link.a, deviceId: honest.deviceId, docIds: [channelId] },
            });
            actor.start();
            stopPeer = peer.sync(link.b);
          };
          // Quiet: the link closed (a refusal), or nothing in flight, the honest side in sync and both
          // holding everything the other has, for a few turns in a row (the peer's engine has no idle signal of
          // its own when its last message needed no answer).
          const quiescent = async () => {
            let calm = 0;
            for (let i = 0; i < 5000; i++) {
              await settle();
              if (link!.closed) return;
              const quiet =
                link!.pending === 0 &&
                actor!.getSnapshot().matches({ syncing: 'inSync' }) &&
                A.hasHeads(honest.docs.get(channelId), A.getHeads(peer.doc)) &&
                A.hasHeads(peer.doc, A.getHeads(honest.docs.get(channelId)));
              calm = quiet ? calm + 1 : 0;
              if (calm >= 3) return;
            }
            throw new Error(`the sync never went quiet: pending ${link!.pending}, honest ${JSON.stringify(actor!.getSnapshot().value)}`);
          };
          const say = async (text: string) => {
            const m = await honest.sendMessage(channelId, { text });
            ourTexts.set(m.id, text);
          };

          // Each side starts out with a message of the other's, to edit or delete.
          await say('first');
          const hello = peer.message('hello');
          peer.change((d) => void d.messages.push(hello));
          peerLegit.set(textOf(hello.id)!, 'hello');
          connect();
          await quiescent();

          for (const round of rounds) {
            if (round.honest !== undefined) await say(round.honest);
            const a = round.peer;
            if (a.type === 'legit') {
              for (const text of a.texts) {
                const m = peer.message(text);
                peer.change((d) => void (a.front ? list(d).insertAt(0, m) : d.messages.push(m)));
                if (!poisoned) peerLegit.set(textOf(m.id)!, text);
              }
            }
            const bad = a.type === 'bad' ? misbehave(peer, a.what, a.pick, honest.deviceId) : undefined;
            const storedBefore = await storedHeads(honest, channelId);
            const headsBefore = A.getHeads(honest.docs.get(channelId));
            if (link!.closed) connect();
            await quiescent();

            const done = actor!.getSnapshot();
            const refused = link!.closed;
            if (refused) {
              // A refusal: typed, and nothing of the refused change kept, in memory or in storage.
              const error = done.output?.error;
              expect(error).toBeInstanceOf(BackchannelError);
              expect(error instanceof ProtocolError || error instanceof TooLargeError, `unexpected ${String(error)}`).toBe(true);
              branches.hit(error instanceof TooLargeError ? 'TooLargeError' : 'ProtocolError');
              expect(A.getHeads(honest.docs.get(channelId)).sort()).toEqual(headsBefore.sort());
              expect(await storedHeads(honest, channelId)).toEqual(storedBefore);
              if (poisoned) branches.hit('refused again on reconnect');
              else if (bad) branches.hit(`refused: ${bad}`);
              stopPeer();
            }
            if (bad && !refused && !poisoned) throw new Error(`a forbidden change (${bad}) was accepted`);
            if (bad) poisoned = true;
            if (a.type === 'legit' && !refused && !poisoned) branches.hit('legit delivered');
            checkInvariants(honest, channelId, peer.deviceId, ourTexts, seen);
          }
          // Everything the peer did legitimately before its first forbidden change arrived, as sent.
          const have = new Map(honest.messages(channelId).map((m) => [m.id, m.text]));
          for (const [id, text] of peerLegit) expect(have.get(id), `legitimate message ${id} missing`).toBe(text);
          link!.cut('done');
          stopPeer();
        }),
        { numRuns: RUNS },
      );
      branches.check();
    },
    budgetMs(RUNS, 400),
  );

  it('our own changes meet the same limits and schema: refused with a typed error, nothing stored', async () => {
    const db = await honestDevice({ messages: 3, documentBytes: 100_000 });
    const key = cryptoRandomBytes(32);
    await db.addContact({ moniker: 'P', contactKey: key });
    const id = documentId(key);
    const stored = async () => (await db.storage.loadRange(['docs', 'channel', id])).map((c) => c.key.join('/')).sort();
    await db.sendMessage(id, { text: 'a'.repeat(60_000) });
    const before = await stored();
    await expect(db.sendMessage(id, { text: 'b'.repeat(60_000) })).rejects.toBeInstanceOf(TooLargeError);
    await expect(db.docs.change<Record<string, unknown>>(id, (d) => void (d.colour = 'red'))).rejects.toBeInstanceOf(InvalidArgumentError);
    const first = db.messages(id)[0]!;
    await expect(
      db.docs.change<{ messages: unknown[] }>(
        id,
        (d) =>
          void d.messages.push({
            ...first,
            id: new A.ImmutableString(first.id),
            sender: new A.ImmutableString(first.sender),
            text: new A.ImmutableString('again'),
          }),
      ),
    ).rejects.toThrow(/reuses the id/);
    await db.sendMessage(id, { text: 'two' });
    await db.sendMessage(id, { text: 'three' });
    await expect(db.sendMessage(id, { text: 'four' })).rejects.toThrow(/more than the limit of 3/);
    expect(db.messages(id).map((m) => m.text.slice(0, 5))).toEqual(['aaaaa', 'two', 'three']);
    expect((await stored()).length).toBe(before.length + 2);
  });
});

/** The heads of the channel as storage holds it (a fresh store on the same storage). */
async function storedHeads(db: Database, id: DocId): Promise<string[]> {
  const fresh = new DocumentStore({ storage: db.storage });
  return A.getHeads(await fresh.open(id, 'channel')).sort();
}

/**
 * What must hold on the honest device after every round: a valid channel within the limits, unique
 * ids, only its own messages (exactly as sent) and the peer's; and every message it ever held still
 * there, unchanged (nobody edits or deletes a message once stored). A forbidden change may be made
 * good by a later one (a bad field fixed before it was ever accepted): judged by what it does, the
 * pair only adds a valid message of the peer's, which is allowed.
 */
function checkInvariants(db: Database, id: DocId, peerId: string, ours: Map<string, string>, seen: Map<string, string>): void {
  const doc = db.docs.get(id);
  expect(validate('channel', doc)).toEqual([]);
  const messages = db.messages(id);
  expect(messages.length).toBeLessThanOrEqual(TEST_LIMITS.messages);
  expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
  const now = new Map(messages.map((m) => [m.id, JSON.stringify(m)]));
  for (const m of messages) {
    if (m.sender === db.deviceId) expect(ours.get(m.id), `a message in our name we never sent: ${m.text}`).toBe(m.text);
    else expect(m.sender).toBe(peerId);
  }
  for (const [mid, json] of seen) expect(now.get(mid), `message ${mid} was edited or deleted`).toBe(json);
  for (const [mid, json] of now) seen.set(mid, json);
  // Our messages are never lost.
  for (const mid of ours.keys()) expect(now.has(mid), `our message ${mid} lost`).toBe(true);
}

describe('sync engine bounds', () => {
  it('a peer saying hello with our own device id is refused', async () => {
    const db = await honestDevice({});
    const key = cryptoRandomBytes(32);
    await db.addContact({ moniker: 'P', contactKey: key });
    const link = new MemoryLink();
    const actor = createActor(syncMachine, {
      input: { docs: db.docs, storage: db.storage, channel: link.a, deviceId: db.deviceId, docIds: [documentId(key)] },
    });
    actor.start();
    await link.b.send(encodeHello(db.deviceId));
    const done = await waitFor(actor, (s) => s.status === 'done');
    expect(done.output?.error).toBeInstanceOf(ProtocolError);
    expect(done.output?.error?.message).toMatch(/own id/);
    expect(link.closed).toBe(true);
  });

  it('a peer flooding sync messages faster than they are applied is cut off with TooLargeError, within the bound', async () => {
    const db = await honestDevice({});
    const key = cryptoRandomBytes(32);
    await db.addContact({ moniker: 'P', contactKey: key });
    const channelId = documentId(key);
    const link = new MemoryLink({ highWaterMark: 1 << 20 });
    const errors: BackchannelError[] = [];
    const maxQueuedBytes = 256 * 1024;
    startSyncEngine({
      docs: db.docs,
      storage: db.storage,
      channel: link.a,
      deviceId: db.deviceId,
      docIds: [channelId],
      maxQueuedBytes,
      emit: (e) => e.type === 'engine.error' && errors.push(e.error),
    });
    // Well-formed sync messages (each alone would be applied), sent without waiting for any answer.
    const source = A.from<{ n: number }>({ n: 0 });
    const [, message] = A.generateSyncMessage(source, A.initSyncState());
    const { encodeSync } = await import('../src/sync/frame.js');
    await link.b.send(encodeHello('ab'.repeat(16)));
    let sent = 0;
    for (let seq = 0; seq < 10_000 && !link.closed; seq++) {
      for (const f of encodeSync(channelId, seq, message!, link.b.maxFrameBytes)) await link.b.send(f).catch(() => {});
      sent += message!.length + 1024;
    }
    await until(() => link.closed);
    expect(errors[0]).toBeInstanceOf(TooLargeError);
    expect((errors[0]!.data as { limit: number }).limit).toBe(maxQueuedBytes);
    expect(sent).toBeGreaterThan(maxQueuedBytes);
  });

  it('at size: a peer growing the channel past LIMITS.documentBytes is refused; what was stored stays under it', async () => {
    const random = cryptoRandomBytes;
    const key = random(32);
    const channelId = documentId(key);
    const honest = await honestDevice({});
    const peerDb = await honestDevice({});
    await honest.addContact({ moniker: 'Peer', contactKey: key });
    await peerDb.addContact({ moniker: 'Honest', contactKey: key });
    const peer = new RawPeer(channelId, peerDb.docs.get(channelId), peerDb.deviceId, random);
    const link = new MemoryLink();
    const actor = createActor(syncMachine, {
      input: { docs: honest.docs, storage: honest.storage, channel: link.a, deviceId: honest.deviceId, docIds: [channelId] },
    });
    actor.start();
    peer.sync(link.b);
    // Messages at the text limit, random (incompressible), 4 MiB at a time: legitimate one by one.
    const perStep = Math.floor((4 * 1024 * 1024) / LIMITS.text);
    let steps = 0;
    while (!link.closed) {
      peer.change((d) => {
        for (let i = 0; i < perStep; i++) d.messages.push(peer.message(toHex(random(LIMITS.text / 2))));
      });
      steps++;
      for (let i = 0; i < 100_000 && !link.closed && !(link.pending === 0 && peer.idle && actor.getSnapshot().matches({ syncing: 'inSync' })); i++)
        await settle();
      expect(steps).toBeLessThan(40);
    }
    const done = await waitFor(actor, (s) => s.status === 'done');
    expect(done.output?.error).toBeInstanceOf(TooLargeError);
    const stored = (await honest.storage.loadRange(['docs', 'channel', channelId])).reduce((n, c) => n + c.data.length, 0);
    const text = honest.messages(channelId).reduce((n, m) => n + m.text.length, 0);
    console.log(
      `at size: refused after ${steps} steps of ${perStep} messages; kept ${honest.messages(channelId).length} messages, ${text} characters of text, ${stored} bytes stored; ${link.bytesDelivered} bytes crossed the link`,
    );
    expect(stored).toBeLessThanOrEqual(LIMITS.documentBytes);
    expect(text).toBeLessThanOrEqual(LIMITS.documentBytes);
    expect(steps * perStep * (LIMITS.text + 64)).toBeGreaterThan(LIMITS.documentBytes);
    // What reached us is bounded by the cap plus one step: the sync ended at the first step past it.
    expect(link.bytesDelivered).toBeLessThan(LIMITS.documentBytes + 2 * 4 * 1024 * 1024 + 1024 * 1024);
  }, 300_000);
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !check(); i++) await settle();
  expect(check()).toBe(true);
}
