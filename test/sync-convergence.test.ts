/**
 * SYNC under faults (fast-check): 2–4 replicas make random edits (messages, a contact card, settings)
 * while links between them deliver, drop, duplicate and reorder frames, are cut (partitions), and
 * replicas crash and restart from storage. After healing, every replica holds identical documents and
 * no acknowledged message is lost.
 */
import * as A from '@automerge/automerge';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { SETTINGS_ID } from '../src/db/database.js';
import type { ContactDoc } from '../src/db/schema.js';
import { Replica } from './helpers/replica.js';
import { vectorEntropy } from './helpers/entropy.js';
import { FC_SYNC_RUNS } from './helpers/runs.js';
import { budgetMs } from './helpers/branches.js';

const CHANNEL = 'c0ffee00c0ffee00c0ffee00c0ffee00';
const CONTACT = 'face0000face0000face0000face0000';

type Op =
  | { op: 'message'; r: number; text: string }
  | { op: 'rename'; r: number; name: string }
  | { op: 'relay'; r: number; port: number }
  | { op: 'connect'; a: number; b: number }
  | { op: 'cut'; link: number }
  | { op: 'deliver'; link: number; index: number; count: number }
  | { op: 'drop'; link: number; index: number }
  | { op: 'duplicate'; link: number; index: number }
  | { op: 'crash'; r: number };

const op = (n: number): fc.Arbitrary<Op> =>
  fc.oneof(
    { arbitrary: fc.record({ op: fc.constant('message' as const), r: fc.nat(n - 1), text: fc.string({ maxLength: 12 }) }), weight: 4 },
    {
      arbitrary: fc.record({
        op: fc.constant('rename' as const),
        r: fc.nat(n - 1),
        name: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s.trim() !== ''),
      }),
      weight: 1,
    },
    { arbitrary: fc.record({ op: fc.constant('relay' as const), r: fc.nat(n - 1), port: fc.integer({ min: 1000, max: 9999 }) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('connect' as const), a: fc.nat(n - 1), b: fc.nat(n - 1) }), weight: 3 },
    { arbitrary: fc.record({ op: fc.constant('cut' as const), link: fc.nat(8) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant('deliver' as const), link: fc.nat(8), index: fc.nat(3), count: fc.integer({ min: 1, max: 6 }) }), weight: 6 },
    { arbitrary: fc.record({ op: fc.constant('drop' as const), link: fc.nat(8), index: fc.nat(3) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('duplicate' as const), link: fc.nat(8), index: fc.nat(3) }), weight: 2 },
    { arbitrary: fc.record({ op: fc.constant('crash' as const), r: fc.nat(n - 1) }), weight: 1 },
  );

const scenario = fc
  .integer({ min: 2, max: 4 })
  .chain((n) => fc.record({ n: fc.constant(n), seed: fc.string({ maxLength: 6 }), ops: fc.array(op(n), { minLength: 8, maxLength: 40 }) }));

const faults = { drops: 0, duplicates: 0, reorders: 0 };
const settle = () => new Promise((r) => setImmediate(r));

interface Link {
  link: MemoryLink;
  a: number;
  b: number;
}

async function run({ n, seed, ops }: { n: number; seed: string; ops: Op[] }) {
  const replicas = await Promise.all(Array.from({ length: n }, (_, i) => new Replica(vectorEntropy(`${seed}/${i}`)).start()));
  for (const r of replicas) {
    await r.db.docs.create(CHANNEL, 'channel', { messages: [] });
    await r.db.docs.create(CONTACT, 'contact', { moniker: 'Carol', channels: [] });
  }
  const docIds = [CHANNEL, CONTACT, SETTINGS_ID];
  const acknowledged = new Set<string>();
  let links: Link[] = [];
  const live = () => (links = links.filter((l) => !l.link.closed));
  const connect = (a: number, b: number, mode: 'manual' | 'auto') => {
    const link = new MemoryLink({ mode, maxFrameBytes: 4096 });
    // Several replicas relay each other's messages and share settings: own devices, not contacts.
    replicas[a]!.sync(link.a, docIds, 'own-device');
    replicas[b]!.sync(link.b, docIds, 'own-device');
    links.push({ link, a, b });
  };

  for (const o of ops) {
    live();
    const pick = (i: number) => links[i % Math.max(1, links.length)];
    switch (o.op) {
      case 'message': {
        const m = await replicas[o.r]!.db.sendMessage(CHANNEL, { text: o.text });
        acknowledged.add(m.id);
        break;
      }
      case 'rename':
        await replicas[o.r]!.db.docs.change<ContactDoc>(CONTACT, (c) => {
          c.moniker = o.name.trim();
        });
        break;
      case 'relay':
        await replicas[o.r]!.db.updateSettings({ relay_server: `ws://127.0.0.1:${o.port}/v1` });
        break;
      case 'connect':
        if (o.a !== o.b && !links.some((l) => (l.a === o.a && l.b === o.b) || (l.a === o.b && l.b === o.a))) connect(o.a, o.b, 'manual');
        break;
      case 'cut':
        pick(o.link)?.link.cut('partition');
        break;
      case 'deliver':
        for (let k = 0; k < o.count; k++) {
          // index > 0 delivers a later frame first: a reorder.
          const l = pick(o.link)?.link;
          if (l && l.pending > 0 && l.deliver(Math.min(o.index, l.pending - 1)) && o.index > 0 && l.pending > 0) faults.reorders++;
          await settle();
        }
        break;
      case 'drop':
        if (pick(o.link)?.link.drop(o.index)) faults.drops++;
        break;
      case 'duplicate':
        if (pick(o.link)?.link.duplicate(o.index)) faults.duplicates++;
        break;
      case 'crash': {
        for (const l of links) if (l.a === o.r || l.b === o.r) l.link.cut('crash');
        await settle();
        await replicas[o.r]!.crashAndRestart();
        break;
      }
    }
    await settle();
  }

  // Heal: every old link goes, every pair gets a clean, reliable one; wait for quiescence.
  for (const l of links) l.link.cut('heal');
  links = [];
  await settle();
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) connect(a, b, 'auto');
  const snapshot = (r: Replica) => JSON.stringify(docIds.map((id) => A.toJS(r.db.docs.get(id))));
  const heads = (r: Replica) => JSON.stringify(docIds.map((id) => A.getHeads(r.db.docs.get(id)).sort()));
  let converged = false;
  for (let i = 0; i < 3000 && !converged; i++) {
    await settle();
    const busy = links.some((l) => l.link.pending > 0) || replicas.some((r) => [...r.syncs].some((s) => !s.getSnapshot().matches({ syncing: 'inSync' })));
    converged = !busy && replicas.every((r) => heads(r) === heads(replicas[0]!));
  }
  expect(converged, 'replicas did not converge after healing').toBe(true);
  for (const r of replicas) expect(snapshot(r)).toBe(snapshot(replicas[0]!));
  const ids = new Set(replicas[0]!.db.messages(CHANNEL).map((m) => m.id));
  for (const id of acknowledged) expect(ids.has(id), `acknowledged message ${id} lost`).toBe(true);
  for (const l of links) l.link.cut('done');
  return { acknowledged: acknowledged.size, crashes: ops.filter((o) => o.op === 'crash').length };
}

describe('sync convergence under faults', () => {
  it(
    `identical documents and no acknowledged message lost (${FC_SYNC_RUNS} runs)`,
    async () => {
      let messages = 0;
      let crashes = 0;
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const r = await run(s);
          messages += r.acknowledged;
          crashes += r.crashes;
        }),
        { numRuns: FC_SYNC_RUNS },
      );
      console.log(
        `acknowledged messages checked: ${messages}; crash-restarts: ${crashes}; ` +
          `frames dropped ${faults.drops}, duplicated ${faults.duplicates}, reordered ${faults.reorders}`,
      );
      // The faults must actually happen, or the property says little.
      expect(messages).toBeGreaterThan(FC_SYNC_RUNS);
      expect(crashes).toBeGreaterThan(FC_SYNC_RUNS / 4);
      expect(Math.min(faults.drops, faults.duplicates, faults.reorders)).toBeGreaterThan(FC_SYNC_RUNS / 10);
    },
    budgetMs(FC_SYNC_RUNS, 1000), // a timeout, not a goal: signed messages made a run about a quarter slower
  );
});
