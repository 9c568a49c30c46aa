/**
 * Where the relay's time goes under the pairing load: the relay runs with `node --cpu-prof`, the driver
 * loads it, and the profile's top entries by self time are printed (`BENCH_ONLY=profile`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pairingLoad, startOurRelay } from './servers.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Self time by function from a .cpuprofile, biggest first, as shares of all samples. */
export function topEntries(profilePath: string, count = 20): { name: string; share: number }[] {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as { nodes: ProfileNode[]; samples: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const id of profile.samples) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle++;
      continue;
    }
    total++;
    const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, '').replace(/^node:/, '')}:${lineNumber + 1}` : '';
    const name = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(name, (self.get(name) ?? 0) + 1);
  }
  void idle;
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, n]) => ({ name, share: n / total }));
}

export async function benchProfile(concurrency = 50): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bc-bench-prof-'));
  try {
    const relay = await startOurRelay(['--memory'], ['--cpu-prof', '--cpu-prof-dir', dir]);
    let run;
    try {
      run = await pairingLoad(relay, concurrency);
    } finally {
      await relay.stop();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) return 'relay profile: no .cpuprofile written';
    const lines = [
      `Relay profile under ${concurrency} concurrent pairs (${run.perSecond.toFixed(0)}/s, ${(run.cpuMs[0]! / Math.max(1, run.done)).toFixed(2)} ms CPU/pairing), self time, busy samples only:`,
      ...topEntries(join(dir, file)).map((e) => `  ${(e.share * 100).toFixed(1).padStart(5)}%  ${e.name}`),
    ];
    return lines.join('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
