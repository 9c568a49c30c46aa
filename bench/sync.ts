/**
 * Initial sync of a 10,000-message channel and of 100 contact cards: wire bytes and time through our
 * sync engine (in-memory link), side by side with automerge-repo syncing the same documents over its
 * own MessageChannel network adapter, and with the size of `Automerge.save`.
 */
import * as A from '@automerge/automerge';
import { Repo } from '@automerge/automerge-repo';
import { MessageChannelNetworkAdapter } from '@automerge/automerge-repo-network-messagechannel';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { waitFor, createActor } from 'xstate';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { toHex } from '../src/crypto/bytes.js';
import { sign, signingKeypair } from '../src/crypto/signing.js';
import { signMessage } from '../src/db/messageSignature.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { DocumentStore } from '../src/db/documentStore.js';
import { syncMachine } from '../src/machines/syncMachine.js';
import { type Figure, ms } from './figures.js';
import { benchScale } from './servers.js';

/** The device that wrote the channel's messages: A in the sync. */
const SENDER = 'ab'.repeat(16);
/** Its signing key: every message carries its signature, and B checks each against the key (the contact's paired device). */
const SENDER_SEED = new Uint8Array(32).fill(0xab);
const SENDER_KEY = toHex(signingKeypair(SENDER_SEED).publicKey);

interface Workload {
  name: string;
  docs: { id: string; kind: 'channel' | 'contact'; bytes: Uint8Array; empty: Record<string, unknown> }[];
}

/** Build the documents from a real store's genesis, one change per message, so history is realistic. */
async function workload(
  name: string,
  build: (store: DocumentStore) => Promise<(string | { id: string; bytes: Uint8Array })[]>,
  kind: 'channel' | 'contact',
): Promise<Workload> {
  const storage = new MemoryStorage();
  const store = new DocumentStore({ storage, compactEvery: 1000 });
  const built = await build(store);
  const empty = kind === 'channel' ? { messages: [] } : { moniker: 'x', channels: [] };
  return {
    name,
    docs: built.map((d) => (typeof d === 'string' ? { id: d, kind, bytes: A.save(store.get(d)), empty } : { ...d, kind, empty })),
  };
}

async function ours(w: Workload) {
  // A holds the full documents; B only the genesis every device creates for itself.
  const sa = new MemoryStorage();
  for (const d of w.docs) await sa.save(['docs', d.kind, d.id, 'snapshot', 'full'], d.bytes);
  const storeA = new DocumentStore({ storage: sa });
  for (const d of w.docs) await storeA.open(d.id, d.kind);
  const b = new DocumentStore({ storage: new MemoryStorage() });
  // B has proven the sender's key (the contact's set, paired device): each new message is verified
  // (BENCH_VERIFY=0: signed, nothing to check them with — the cost of the checks apart).
  if (process.env.BENCH_VERIFY !== '0') b.setSenderKeys(() => ({ theirs: new Map([[SENDER, new Set([SENDER_KEY])]]), paired: SENDER_KEY }));
  for (const d of w.docs) await b.create(d.id, d.kind, d.empty);
  const link = new MemoryLink({ maxFrameBytes: 64 * 1024, highWaterMark: 256 });
  const t0 = performance.now();
  // A channel comes from a contact (who wrote its messages); contact cards only from one's own devices.
  const trust = w.docs[0]?.kind === 'contact' ? ('own-device' as const) : ('contact' as const);
  const input = (docs: DocumentStore, channel: MemoryLink['a'], deviceId: string) => ({
    docs,
    storage: new MemoryStorage(),
    channel,
    deviceId,
    trust,
    docIds: w.docs.map((d) => d.id),
  });
  const sa2 = createActor(syncMachine, { input: input(storeA, link.a, SENDER) }).start();
  const sb = createActor(syncMachine, { input: input(b, link.b, toHex(cryptoRandomBytes(16))) }).start();
  await waitFor(sb, (s) => s.matches({ syncing: 'inSync' }) && w.docs.every((d) => A.getHeads(b.get(d.id)).join() === A.getHeads(storeA.get(d.id)).join()), {
    timeout: 600_000,
  });
  const ms = performance.now() - t0;
  sa2.stop();
  sb.stop();
  return { ms, bytes: link.bytesDelivered };
}

/** Bytes a message would take on a wire: binary payloads at their length, the rest as JSON. */
function wireSize(value: unknown): number {
  if (ArrayBuffer.isView(value)) return value.byteLength;
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + wireSize(v), 2);
  if (value && typeof value === 'object') return Object.entries(value).reduce((n, [k, v]) => n + k.length + 3 + wireSize(v), 2);
  return JSON.stringify(value ?? null).length;
}

async function automergeRepo(w: Workload) {
  const { port1, port2 } = new MessageChannel();
  let bytes = 0;
  const count = (port: MessagePort) => {
    const post = port.postMessage.bind(port);
    port.postMessage = (message: unknown, transfer?: unknown) => {
      bytes += wireSize(message);
      return post(message as never, transfer as never);
    };
    return port;
  };
  const repoA = new Repo({ network: [new MessageChannelNetworkAdapter(count(port1) as never)], peerId: 'a' as never });
  const repoB = new Repo({ network: [new MessageChannelNetworkAdapter(count(port2) as never)], peerId: 'b' as never });
  const handles = w.docs.map((d) => repoA.import(d.bytes));
  const t0 = performance.now();
  const found = await Promise.all(handles.map((h) => repoB.find(h.url)));
  for (const [i, h] of found.entries()) {
    const want = A.getHeads(handles[i]!.doc()!).join();
    while (A.getHeads(h.doc()!).join() !== want) await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  await repoA.shutdown?.();
  await repoB.shutdown?.();
  port1.close();
  port2.close();
  return { ms, bytes };
}

export async function benchSync(
  messages = Number(process.env.BENCH_MESSAGES ?? 10_000),
  contacts = Number(process.env.BENCH_CONTACTS ?? 100),
): Promise<{ text: string; figures: Figure[] }> {
  const channel = await workload(
    `channel, ${messages} messages`,
    async (store) => {
      const id = toHex(cryptoRandomBytes(16));
      await store.create(id, 'channel', { messages: [] });
      // From the store's genesis, one Automerge change per message, as Database.sendMessage writes them
      // (immutable strings); made with Automerge directly, which is quicker than through the store.
      let doc = store.get<{ messages: unknown[] }>(id);
      for (let i = 0; i < messages; i++) {
        const m = { id: toHex(cryptoRandomBytes(16)), timestamp: 1_700_000_000_000 + i, sender: SENDER, text: `message number ${i}` };
        const sig = signMessage(id, m, (bytes) => sign(SENDER_SEED, bytes));
        doc = A.change(doc, (d) => {
          d.messages.push({
            id: new A.ImmutableString(m.id),
            timestamp: m.timestamp,
            sender: new A.ImmutableString(SENDER),
            text: new A.ImmutableString(m.text),
            sig,
          });
        });
      }
      return [{ id, bytes: A.save(doc) }];
    },
    'channel',
  );
  const cards = await workload(
    `${contacts} contact cards`,
    async (store) => {
      const ids: string[] = [];
      for (let i = 0; i < contacts; i++) {
        const id = toHex(cryptoRandomBytes(16));
        await store.create(id, 'contact', {
          moniker: new A.ImmutableString(`Contact ${i}`),
          channels: [new A.ImmutableString(toHex(cryptoRandomBytes(32)))],
        });
        ids.push(id);
      }
      return ids;
    },
    'contact',
  );
  const lines = [
    'Initial sync (in-memory transport on one machine; time is the best of BENCH_SCALE rounds, default 1)',
    `${'workload'.padEnd(28)}${'Automerge.save'.padStart(16)}${'ours: bytes'.padStart(14)}${'ms'.padStart(8)}${'automerge-repo: bytes'.padStart(24)}${'ms'.padStart(8)}`,
  ];
  const results = [];
  for (const w of [channel, cards]) {
    const saved = w.docs.reduce((n, d) => n + d.bytes.length, 0);
    let o = await ours(w);
    let r = await automergeRepo(w);
    for (let round = 1; round < benchScale(); round++) {
      const o2 = await ours(w);
      const r2 = await automergeRepo(w);
      o = o2.ms < o.ms ? o2 : o;
      r = r2.ms < r.ms ? r2 : r;
    }
    results.push({ saved, o, r });
    lines.push(
      `${w.name.padEnd(28)}${String(saved).padStart(16)}${String(o.bytes).padStart(14)}${o.ms.toFixed(0).padStart(8)}${String(r.bytes).padStart(24)}${r.ms.toFixed(0).padStart(8)}`,
    );
  }
  const [ch, cc] = results as [(typeof results)[0], (typeof results)[0]];
  const figures: Figure[] = [
    {
      what: `initial sync, ${messages}-message channel: time`,
      ours: ms(ch.o.ms),
      reference: `${ms(ch.r.ms)} (automerge-repo)`,
      ratio: ch.o.ms / ch.r.ms,
      goal: '≤ 0.8×',
      met: ch.o.ms / ch.r.ms <= 0.8,
    },
    {
      what: `initial sync, ${messages}-message channel: bytes`,
      ours: `${ch.o.bytes} B`,
      reference: `${ch.saved} B (Automerge.save)`,
      ratio: ch.o.bytes / ch.saved,
      goal: '≤ 1.1×',
      met: ch.o.bytes / ch.saved <= 1.1,
    },
    {
      what: `initial sync, ${contacts} contact cards: bytes`,
      ours: `${cc.o.bytes} B`,
      reference: `${cc.saved} B (Automerge.save)`,
      ratio: cc.o.bytes / cc.saved,
      goal: '≤ 1.5×',
      met: cc.o.bytes / cc.saved <= 1.5,
    },
  ];
  return { text: lines.join('\n'), figures };
}
