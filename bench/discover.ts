/**
 * DISCOVER benchmark: runs bench/discoverWorker inside a network namespace it creates (WebRTC needs
 * real interfaces; nothing leaves the namespace) and prints the figures side by side.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createNetns } from '../test/helpers/netns.js';
import { ROOT } from '../test/helpers/processes.js';

export function benchDiscover(): string {
  const ns = createNetns(79);
  try {
    const [cmd, ...args] = ns.exec([process.execPath, join(ROOT, 'dist/bench/discoverWorker.js')]);
    const r = spawnSync(cmd!, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) return `DISCOVER benchmark failed:\n${r.stderr}\n${r.stdout}`;
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    const f = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(1)).padStart(14);
    return [
      'DISCOVER (inside a network namespace; one machine)',
      `time from announce to an open channel: direct ${m.directConnectMs!.toFixed(0)} ms, relayed ${m.relayedConnectMs!.toFixed(0)} ms`,
      `${'throughput MB/s'.padEnd(22)}${'raw data channel'.padStart(18)}${'ours, direct'.padStart(14)}${'ours, relayed'.padStart(14)}`,
      ...[1024, 65536].map(
        (s) => `${(s === 1024 ? '1 KiB messages' : '64 KiB messages').padEnd(22)}${f(m[`raw_${s}`]).padStart(18)}${f(m[`direct_${s}`])}${f(m[`relayed_${s}`])}`,
      ),
    ].join('\n');
  } finally {
    ns.remove();
  }
}
