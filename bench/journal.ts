/**
 * What the event journal costs: pairings on the in-memory network (no sockets, so the machines and
 * crypto are all that is measured) with no journal, with the journal on memory storage, and on the
 * filesystem; then how fast the journal replays.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, MailboxServer, MemoryMailboxStore } from '../server/index.js';
import { MemoryNetwork } from '../src/adapters/memoryNetwork.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { StorageAdapter } from '../src/effects/storage.js';
import { Journal } from '../src/journal/journal.js';
import { replay } from '../src/journal/replay.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import type { Figure } from './figures.js';

/** Pairings one after another reuse the same nameplate: its claim rate would refuse them by design. */
const LIMITS = { ...DEFAULT_LIMITS, claimBurstPerNameplate: 1e9, claimsPerMinutePerNameplate: 1e9, claimBurstPerAddress: 1e9, claimsPerMinutePerAddress: 1e9 };

async function pairings(count: number, storage?: StorageAdapter) {
  const server = new MailboxServer({
    store: new MemoryMailboxStore({ limits: LIMITS, randomBytes: cryptoRandomBytes }),
    limits: LIMITS,
    now: Date.now,
  });
  const net = new MemoryNetwork(server);
  const journal = storage ? await Journal.open({ storage }) : undefined;
  const common = { relay: 'ws://memory/v1', appid: 'bench', connector: net.connector, journal: journal?.observe };
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const a = new Wormhole(common);
    const b = new Wormhole({ ...common, code: await a.code });
    await Promise.all([a.verified, b.verified]);
    a.send({ n: 1 });
    b.send({ n: 2 });
    await Promise.all([a.nextMessage(), b.nextMessage()]);
    await Promise.all([a.close(), b.close()]);
  }
  await journal?.close();
  const ms = (performance.now() - t0) / count;
  const records = journal ? (await journal.records()).length : 0;
  const bytes = storage ? (await storage.loadRange(['journal', 'seg'])).reduce((n, c) => n + c.data.length, 0) : 0;
  let replayMs = 0;
  if (journal) {
    const r0 = performance.now();
    await replay(journal);
    replayMs = performance.now() - r0;
  }
  return { ms, records, bytes, replayMs };
}

export async function benchJournal(count = Number(process.env.BENCH_JOURNAL_PAIRINGS ?? 100)): Promise<{ text: string; figures: Figure[] }> {
  await pairings(5); // warm up
  const dir = mkdtempSync(join(tmpdir(), 'bc-bench-journal-'));
  try {
    // Two rounds, interleaved, keeping each one's faster: JIT warm-up and GC otherwise favour whoever runs last.
    const best = (x: Awaited<ReturnType<typeof pairings>>, y: typeof x) => (x.ms <= y.ms ? x : y);
    let off = await pairings(count);
    let mem = await pairings(count, new MemoryStorage());
    let fs = await pairings(count, new NodeFsStorage(join(dir, '1')));
    off = best(off, await pairings(count));
    mem = best(mem, await pairings(count, new MemoryStorage()));
    fs = best(fs, await pairings(count, new NodeFsStorage(join(dir, '2'))));
    const row = (name: string, r: typeof off) =>
      `${name.padEnd(26)}${`${r.ms.toFixed(2)} ms`.padStart(12)}${(r.records ? String(r.records / count) : '–').padStart(14)}${(r.bytes ? `${Math.round(r.bytes / count)} B` : '–').padStart(14)}${(r.replayMs ? `${((r.replayMs / r.records) * 1000).toFixed(1)} µs` : '–').padStart(18)}`;
    const text = [
      `Event journal cost (${count} pairings on the in-memory network, both sides journaled)`,
      `${'journal'.padEnd(26)}${'per pairing'.padStart(12)}${'records/pair'.padStart(14)}${'bytes/pair'.padStart(14)}${'replay/record'.padStart(18)}`,
      row('off', off),
      row('on, memory storage', mem),
      row('on, filesystem', fs),
    ].join('\n');
    const figure = (what: string, on: typeof off): Figure => ({
      what: `journal cost per pairing, ${what}`,
      ours: `${on.ms.toFixed(2)} ms`,
      reference: `${off.ms.toFixed(2)} ms (journal off)`,
      ratio: on.ms / off.ms,
      goal: '≤ +10% (1.10×)',
      met: on.ms / off.ms <= 1.1,
    });
    return { text, figures: [figure('on memory storage', mem), figure('on the filesystem', fs)] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
