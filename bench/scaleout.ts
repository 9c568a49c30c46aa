/**
 * What sharing state through Redis costs: pairings per second through one relay with its in-memory
 * store, next to two relay processes on one redis-server with the inviter on one and the other side on
 * the other (every nameplate, mailbox and message goes through Redis transactions and pub/sub).
 */
import { backchannelCli, freePort } from '../test/helpers/processes.js';
import { startRedis } from '../test/helpers/redis.js';
import { measure } from './pairings.js';

async function relay(args: string[]) {
  const port = await freePort();
  const running = backchannelCli(['relay', '--port', String(port), '--quiet', ...args], 30 * 60_000);
  await running.waitFor(/relay listening/);
  return { url: `ws://127.0.0.1:${port}/v1`, stop: async () => (running.child.kill('SIGTERM'), await running.result) };
}

export async function benchScaleout(levels = (process.env.BENCH_LEVELS ?? '1,10,100').split(',').map(Number)): Promise<string> {
  const redis = await startRedis();
  const single = await relay(['--memory']);
  const [a, b] = [await relay(['--redis', redis.url]), await relay(['--redis', redis.url])];
  const lines = [
    'Pairings per second: one relay in memory vs two relays sharing Redis (inviter on one, invitee on the other)',
    `${'concurrent pairs'.padEnd(18)}${'one relay, memory'.padStart(20)}${'two relays, Redis'.padStart(20)}${'ratio'.padStart(8)}`,
  ];
  try {
    for (const concurrency of levels) {
      const total = Math.max(concurrency * 2, 20);
      const budget = Number(process.env.BENCH_BUDGET_MS ?? 60_000);
      const mem = await measure(single.url, concurrency, total, budget);
      const shared = await measure(a.url, concurrency, total, budget, b.url);
      const fmt = (r: typeof mem) => `${r.perSecond.toFixed(1)}/s${r.failed ? ` (${r.failed} failed)` : ''}`;
      lines.push(`${String(concurrency).padEnd(18)}${fmt(mem).padStart(20)}${fmt(shared).padStart(20)}${(shared.perSecond / mem.perSecond).toFixed(2).padStart(7)}x`);
      console.error(lines.at(-1));
    }
  } finally {
    await Promise.all([single.stop(), a.stop(), b.stop()]);
    await redis.stop();
  }
  return lines.join('\n');
}
