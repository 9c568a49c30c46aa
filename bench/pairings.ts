/**
 * Pairings per second through a relay: our relay and the Python wormhole-mailbox-server, each as its
 * own process on 127.0.0.1, driven by the same client code (the Wormhole machine over `ws`). A pairing
 * is: allocate + claim, PAKE, key confirmation, one message each way, both close happy.
 */
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { Wormhole } from '../src/wormhole/wormhole.js';
import { startPythonMailbox, startRelayProcess } from '../test/helpers/processes.js';

/** One pairing: the inviter through `url`, the other side through `otherUrl` (default the same relay). */
async function pairOnce(url: string, connector: ReturnType<typeof nodeSocketConnector>, otherUrl = url): Promise<void> {
  const timeouts = { peerMs: 120_000, maxReconnects: 2 };
  const a = new Wormhole({ relay: url, appid: 'bench', connector, timeouts });
  const b = new Wormhole({ relay: otherUrl, appid: 'bench', connector, timeouts, code: await a.code });
  await Promise.all([a.verified, b.verified]);
  a.send({ n: 1 });
  b.send({ n: 2 });
  await Promise.all([a.nextMessage(), b.nextMessage()]);
  await Promise.all([a.close(), b.close()]);
}

/**
 * `concurrency` pairs in flight until twice that many (at least 20) are done or BENCH_BUDGET_MS
 * (default 60 s) passes; the invitee on `otherUrl` when given.
 */
export async function measure(url: string, concurrency: number, otherUrl = url) {
  const total = Math.max(concurrency * 2, 20);
  const budgetMs = Number(process.env.BENCH_BUDGET_MS ?? 60_000);
  const connector = nodeSocketConnector();
  const deadline = Date.now() + budgetMs;
  let started = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (started < total && Date.now() < deadline) {
      started++;
      try {
        await pairOnce(url, connector, otherUrl);
        done++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { done, failed, seconds, perSecond: done / seconds };
}

/** `12.3/s`, with the failures if any. */
export const formatRate = (r: { perSecond: number; failed: number }) => `${r.perSecond.toFixed(1)}/s${r.failed ? ` (${r.failed} failed)` : ''}`;

export async function benchPairings(levels = (process.env.BENCH_LEVELS ?? '1,10,100,1000').split(',').map(Number)): Promise<string> {
  const python = await startPythonMailbox();
  const ours = await startRelayProcess(['--memory'], { timeoutMs: 30 * 60_000 });
  const lines = [
    'Pairings per second (same client driver; each relay its own process on 127.0.0.1)',
    `${'concurrent pairs'.padEnd(18)}${'our relay'.padStart(22)}${'python mailbox'.padStart(24)}${'ratio'.padStart(8)}`,
  ];
  try {
    for (const concurrency of levels) {
      const mine = await measure(ours.url, concurrency);
      const theirs = await measure(python.url, concurrency);
      lines.push(
        `${String(concurrency).padEnd(18)}${formatRate(mine).padStart(22)}${formatRate(theirs).padStart(24)}${(mine.perSecond / theirs.perSecond).toFixed(1).padStart(7)}x`,
      );
      console.error(lines.at(-1));
    }
  } finally {
    await ours.stop();
    await python.close();
  }
  return lines.join('\n');
}
