/**
 * File transfer benchmark: runs bench/filesWorker inside a network namespace it creates (WebRTC needs
 * real interfaces; nothing leaves the namespace) and prints file throughput next to the raw channel.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createNetns } from '../test/helpers/netns.js';
import { ROOT } from '../test/helpers/processes.js';

export function benchFiles(): string {
  const ns = createNetns(84);
  try {
    const [cmd, ...args] = ns.exec([process.execPath, join(ROOT, 'dist/bench/filesWorker.js')]);
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) return `Files benchmark failed:\n${r.stderr}\n${r.stdout}`;
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    const f = (n: number) => `${n.toFixed(1)} MB/s`.padStart(14);
    return [
      `Files over a direct WebRTC channel (inside a network namespace; ${Number(process.env.BENCH_BYTES ?? 64 * 1024 * 1024) / 1024 / 1024} MiB)`,
      `${'raw 16 KiB frames'.padEnd(34)}${f(m.raw!)}`,
      `${'a file, memory storage'.padEnd(34)}${f(m.memory!)}`,
      `${'a file, disk storage (fsync)'.padEnd(34)}${f(m.disk!)}`,
    ].join('\n');
  } finally {
    ns.remove();
  }
}
