/**
 * SYNC bundles and first-sync snapshots (src/sync/bundle.ts, src/sync/syncEngine.ts). With a peer that
 * announced bundles, a first sync of a channel the peer has none of goes as one `Automerge.save`
 * snapshot, and the result survives a restart; with a peer that did not announce them, no bundle
 * crosses. A hostile peer's snapshot is refused exactly as its changes would be: oversize, a deflate
 * bomb, messages by someone else, edits of my messages, a document this channel does not carry —
 * typed error, channel closed, nothing stored.
 */
import * as A from '@automerge/automerge';
import { createDeflateRaw } from 'node:zlib';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { Database } from '../src/db/database.js';
import type { Transport } from '../src/effects/transport.js';
import { ProtocolError, TooLargeError } from '../src/errors.js';
import { decodeBundleBody, encodeBundleBody, type BundleEntry } from '../src/sync/bundle.js';
import { BUNDLE_FRAME, FILE_FRAME, Reassembler, decodeFrame, encodeBundle, encodeFeatures, encodeHello } from '../src/sync/frame.js';
import { SNAPSHOT_MIN_CHANGES, startSyncEngine, type EngineEvent } from '../src/sync/syncEngine.js';
import { budgetMs } from './helpers/branches.js';
import { assertDamagedRefusedOrAccepted } from './helpers/damaged.js';
import { FC_RUNS } from './helpers/runs.js';
import { until } from './helpers/wait.js';

const KEY = new Uint8Array(32).fill(9);
const STRANGER = 'cc'.repeat(16);

async function open(storage = new MemoryStorage()) {
  const db = await Database.open({ storage });
  const contact = db.contacts()[0] ?? (await db.addContact({ moniker: 'peer', contactKey: KEY }));
  return { storage, db, channelId: db.channelOf(contact) };
}
type Side = Awaited<ReturnType<typeof open>>;

const texts = (s: Side) => s.db.messages(s.channelId).map((m) => m.text);

/** What reaches `end`: each sync message as 'sync' or 'changes' (it carries some), in a bundle or a plain frame ('… frame'), and snapshots. */
function watch(end: Transport): { kinds: string[]; bytes: number } {
  const seen = { kinds: [] as string[], bytes: 0 };
  const reassembler = new Reassembler(1 << 30);
  const kind = (message: Uint8Array) => (A.decodeSyncMessage(message).changes.length > 0 ? 'changes' : 'sync');
  end.on('message', (f) => {
    seen.bytes += f.length;
    const frame = decodeFrame(f);
    if (frame.type !== 'sync' && frame.type !== 'bundle') return;
    const whole = reassembler.push(frame);
    if (whole && frame.type === 'sync') seen.kinds.push(`${kind(whole)} frame`);
    if (whole && frame.type === 'bundle') for (const e of decodeBundleBody(whole, 1 << 30)) seen.kinds.push(e.kind === 'sync' ? kind(e.data) : 'snapshot');
  });
  return seen;
}

function engine(side: Side, channel: Transport, options: { features?: number[]; maxUnpackedBytes?: number; maxMessageBytes?: number } = {}) {
  const events: EngineEvent[] = [];
  startSyncEngine({
    docs: side.db.docs,
    storage: side.storage,
    channel,
    deviceId: side.db.deviceId,
    docIds: [side.channelId],
    emit: (e) => events.push(e),
    ...options,
  });
  return events;
}

const errorOf = (events: EngineEvent[]) => (events.find((e) => e.type === 'engine.error') as { error: Error } | undefined)?.error;

/** A hostile peer speaking SYNC by hand: hello, bundles accepted, then one bundle of `entries`. */
async function sendBundle(channel: Transport, peerId: string, docId: string, entries: BundleEntry[]) {
  await channel.send(encodeHello(peerId));
  await channel.send(encodeFeatures(docId, [FILE_FRAME, BUNDLE_FRAME]));
  for (const f of encodeBundle(0, encodeBundleBody(entries), channel.maxFrameBytes)) await channel.send(f);
}

/** `n` zero bytes, raw-deflated. */
async function deflatedZeros(n: number): Promise<Uint8Array> {
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const piece = Buffer.alloc(1024 * 1024);
  for (let left = n; left > 0; left -= piece.length) deflate.write(piece.subarray(0, Math.min(piece.length, left)));
  deflate.end();
  await ended;
  return new Uint8Array(Buffer.concat(out));
}

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
};

/** An Automerge document chunk with one deflated op column (the bomb of test/sync-unpack.test.ts). */
function documentBomb(deflated: Uint8Array): Uint8Array {
  const body = [1, 16, ...new Array<number>(16).fill(7), 0, 0, 1, ...uleb((5 << 4) | 8 | 7), ...uleb(deflated.length), ...deflated];
  const rest = Uint8Array.from([0, ...uleb(body.length), ...body]);
  return Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, ...createHash('sha256').update(rest).digest().subarray(0, 4), ...rest]);
}

/** The attacker's copy of the victim's channel, changed by `edit` (with Automerge directly: no store checks). */
function forged(victim: Side, edit: (d: { messages: Record<string, unknown>[] }) => void): Uint8Array {
  const doc = A.change(A.clone(victim.db.docs.get<{ messages: Record<string, unknown>[] }>(victim.channelId)), edit);
  return A.save(doc);
}

describe('SYNC bundles and first-sync snapshots', () => {
  it('a first sync of a channel the peer has none of goes as one snapshot; both sides go idle; the result is stored and survives a restart', async () => {
    const alice = await open();
    const bobStorage = new MemoryStorage();
    const bob = await open(bobStorage);
    const n = SNAPSHOT_MIN_CHANGES * 2;
    for (let i = 0; i < n; i++) await alice.db.sendMessage(alice.channelId, { text: `m${i}` });
    const link = new MemoryLink({ maxFrameBytes: 4096 });
    const toBob = watch(link.b);
    const toAlice = watch(link.a);
    const a = engine(alice, link.a);
    const b = engine(bob, link.b);
    await until(() => texts(bob).length === n && a.at(-1)?.type === 'engine.idle' && b.at(-1)?.type === 'engine.idle');
    expect(texts(bob)).toEqual(texts(alice));
    // Alice: her first message, then the snapshot; never her changes one by one. Bob: no changes either.
    expect(toBob.kinds.filter((k) => k !== 'sync')).toEqual(['snapshot']);
    expect(toAlice.kinds.every((k) => k === 'sync')).toBe(true);
    expect(toBob.bytes).toBeLessThan(A.save(alice.db.docs.get(alice.channelId)).length * 1.15);
    expect(errorOf(a) ?? errorOf(b)).toBeUndefined();
    // Stored: Bob's device restarts and still has every message; a later message syncs as usual.
    link.cut('bye');
    const bob2 = await open(bobStorage);
    expect(texts(bob2)).toEqual(texts(alice));
    const again = new MemoryLink();
    engine(alice, again.a);
    engine(bob2, again.b);
    await bob2.db.sendMessage(bob2.channelId, { text: 'after the snapshot' });
    await until(() => texts(alice).includes('after the snapshot'));
  });

  it('a peer that did not announce bundles gets none: plain sync frames as before', async () => {
    const alice = await open();
    const bob = await open();
    for (let i = 0; i < SNAPSHOT_MIN_CHANGES * 2; i++) await alice.db.sendMessage(alice.channelId, { text: `m${i}` });
    const link = new MemoryLink();
    const toBob = watch(link.b);
    const toAlice = watch(link.a);
    engine(alice, link.a);
    const b = engine(bob, link.b, { features: [FILE_FRAME] });
    await bob.db.sendMessage(bob.channelId, { text: 'from the older app' });
    await until(() => texts(bob).length === SNAPSHOT_MIN_CHANGES * 2 + 1 && texts(alice).length === SNAPSHOT_MIN_CHANGES * 2 + 1);
    expect(toBob.kinds).toContain('changes frame');
    expect(toBob.kinds.every((k) => k.endsWith(' frame'))).toBe(true);
    // (Bob's engine still sends bundles: Alice announced them. A real older engine, which fails on any
    // frame type it does not know, is test/sync-features.test.ts's peer, and syncs there.)
    expect(toAlice.kinds.length).toBeGreaterThan(0);
    expect(errorOf(b)).toBeUndefined();
  });

  describe('a snapshot from a hostile peer is refused as its changes would be (typed, channel closed, nothing stored)', () => {
    const cases: [
      string,
      (victim: Side) => Promise<BundleEntry[]> | BundleEntry[],
      typeof ProtocolError | typeof TooLargeError,
      RegExp,
      { maxUnpackedBytes?: number; maxMessageBytes?: number }?,
    ][] = [
      [
        'messages written by someone else',
        (v) => [
          {
            kind: 'snapshot',
            docId: v.channelId,
            data: forged(v, (d) => {
              for (let i = 0; i < 3; i++)
                d.messages.push({
                  id: new A.ImmutableString(`${i}`.repeat(32)),
                  timestamp: 1,
                  sender: new A.ImmutableString(STRANGER),
                  text: new A.ImmutableString('forged'),
                });
            }),
          },
        ],
        ProtocolError,
        /not written by the peer/,
      ],
      [
        'an edit of my message',
        (v) => [
          {
            kind: 'snapshot',
            docId: v.channelId,
            data: forged(v, (d) => {
              d.messages[0]!.text = new A.ImmutableString('I never said this');
            }),
          },
        ],
        ProtocolError,
        /may only add its own messages/,
      ],
      [
        'a deletion of my message',
        (v) => [{ kind: 'snapshot', docId: v.channelId, data: forged(v, (d) => void d.messages.splice(0, 1)) }],
        ProtocolError,
        /may only add its own messages/,
      ],
      [
        'a deflate bomb (64 MiB in a document column)',
        async (v) => [{ kind: 'snapshot', docId: v.channelId, data: documentBomb(await deflatedZeros(64 * 1024 * 1024)) }],
        TooLargeError,
        /unpacks to/,
        { maxUnpackedBytes: 1024 * 1024 },
      ],
      [
        'a bundle that inflates past the message bound',
        async (v) => [{ kind: 'sync', docId: v.channelId, data: new Uint8Array(4 * 1024 * 1024) }],
        TooLargeError,
        /inflates to/,
        { maxMessageBytes: 1024 * 1024 },
      ],
      [
        'a snapshot over the message bound',
        (v) => [{ kind: 'snapshot', docId: v.channelId, data: new Uint8Array(300_000).fill(1) }],
        TooLargeError,
        /incoming sync message/,
        { maxMessageBytes: 256 * 1024 },
      ],
      [
        'not an Automerge document',
        (v) => [{ kind: 'snapshot', docId: v.channelId, data: Uint8Array.of(1, 2, 3, 4, 5) }],
        ProtocolError,
        /not an Automerge chunk/,
      ],
      [
        'a document this channel does not carry',
        () => [{ kind: 'snapshot', docId: 'ef'.repeat(16), data: A.save(A.from({ messages: [] })) }],
        ProtocolError,
        /does not carry/,
      ],
    ];
    for (const [name, make, type, reason, options] of cases) {
      it(name, async () => {
        const victim = await open();
        await victim.db.sendMessage(victim.channelId, { text: 'mine' });
        const before = victim.db.docs.get(victim.channelId);
        const link = new MemoryLink({ maxFrameBytes: 64 * 1024 });
        const events = engine(victim, link.b, options);
        await sendBundle(link.a, 'ee'.repeat(16), victim.channelId, await make(victim));
        await until(() => link.closed, 60_000);
        const error = errorOf(events);
        expect(error).toBeInstanceOf(type);
        expect(error!.message).toMatch(reason);
        expect(texts(victim)).toEqual(['mine']);
        expect(A.getHeads(victim.db.docs.get(victim.channelId))).toEqual(A.getHeads(before));
        // And nothing of it reached storage: a restart finds the same.
        const reopened = await open(victim.storage);
        expect(texts(reopened)).toEqual(['mine']);
      });
    }
  });

  it('a bundle is ignored by an engine that did not announce them, and refused before hello', async () => {
    const victim = await open();
    const link = new MemoryLink();
    const events = engine(victim, link.b, { features: [FILE_FRAME] });
    await sendBundle(link.a, 'ee'.repeat(16), victim.channelId, [{ kind: 'snapshot', docId: victim.channelId, data: Uint8Array.of(9) }]);
    await victim.db.sendMessage(victim.channelId, { text: 'still fine' });
    await until(() => events.some((e) => e.type === 'engine.hello'));
    expect(errorOf(events)).toBeUndefined();
    expect(link.closed).toBe(false);

    const other = await open();
    const link2 = new MemoryLink();
    const events2 = engine(other, link2.b);
    for (const f of encodeBundle(0, encodeBundleBody([]), 1024)) await link2.a.send(f);
    await until(() => link2.closed);
    expect(errorOf(events2)?.message).toMatch(/before hello/);
  });

  it(
    'property: a damaged bundle body decodes to entries, or is refused with ProtocolError or TooLargeError, never anything else',
    () => {
      const entry = (i: number): BundleEntry => ({ kind: i % 2 ? 'snapshot' : 'sync', docId: `${i % 10}`.repeat(32), data: new Uint8Array(50 + i).fill(i) });
      const bodies = [encodeBundleBody([entry(0), entry(2), entry(4)]), encodeBundleBody([entry(1), entry(2)]), encodeBundleBody([])];
      assertDamagedRefusedOrAccepted({
        name: 'damaged bundle bodies',
        samples: bodies,
        maxBudget: 400,
        maxEdits: 3,
        check: (body, budget) => {
          for (const e of decodeBundleBody(body, budget)) expect(e.docId).toMatch(/^[0-9a-f]{32}$/);
        },
      });
    },
    budgetMs(FC_RUNS, 20),
  );
});
