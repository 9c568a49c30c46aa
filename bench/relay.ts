/**
 * The relay against the Python mailbox server, same driver (bench/wsDriver.ts), same run: pairings/s at
 * 50 and 200 concurrent pairs, server CPU per pairing, latency p99 at 50, and RSS per idle bound socket.
 */
import { readFileSync } from 'node:fs';
import { type Figure, kib, ms, perSecond } from './figures.js';
import { type BenchServer, drive, type IdleRun, pairingLoad, type PairingRun, startOurRelay, startPythonMailbox } from './servers.js';

const say = (line: string) => console.error(line);

function describe(name: string, concurrency: number, r: PairingRun): string {
  const cpu = r.cpuMs[0]! / Math.max(1, r.done);
  const failed = r.failed ? `, ${r.failed} failed (${r.failures.join('; ')})` : '';
  return `  ${name.padEnd(16)} ${String(concurrency).padStart(4)} pairs: ${perSecond(r.perSecond).padStart(7)}, p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, server CPU ${cpu.toFixed(2)} ms/pairing${failed}`;
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m?.[1] === 'unlimited' || !m ? Infinity : Number(m[1]);
}

export async function benchRelay(): Promise<Figure[]> {
  const levels = [50, 200];
  const runs = new Map<string, Map<number, PairingRun>>();
  const servers: [string, () => Promise<BenchServer>][] = [
    ['ours', () => startOurRelay()],
    ['python', () => startPythonMailbox()],
  ];
  say('Pairings through each server (driver: bench/wsDriver.ts, its own process; servers on 127.0.0.1)');
  for (const [key, start] of servers) {
    const server = await start();
    const byLevel = new Map<number, PairingRun>();
    try {
      for (const c of levels) {
        const r = await pairingLoad(server, c);
        byLevel.set(c, r);
        say(describe(server.name, c, r));
      }
    } finally {
      await server.stop();
    }
    runs.set(key, byLevel);
  }
  const figures: Figure[] = [];
  const ours = runs.get('ours')!;
  const python = runs.get('python')!;
  for (const c of levels) {
    const o = ours.get(c)!;
    const p = python.get(c)!;
    const ratio = o.perSecond / p.perSecond;
    figures.push({
      what: `relay pairings/s, ${c} concurrent pairs`,
      ours: perSecond(o.perSecond),
      reference: `${perSecond(p.perSecond)} (Python)`,
      ratio,
      goal: '≥ 40×',
      met: ratio >= 40,
      note: o.failed || p.failed ? `failed pairings: ours ${o.failed}, Python ${p.failed}` : undefined,
    });
  }
  const cpuPer = (m: Map<number, PairingRun>) => {
    let cpu = 0;
    let done = 0;
    for (const r of m.values()) {
      cpu += r.cpuMs[0]!;
      done += r.done;
    }
    return cpu / Math.max(1, done);
  };
  const cpuOurs = cpuPer(ours);
  const cpuPython = cpuPer(python);
  figures.push({
    what: 'relay CPU per pairing (server CPU ÷ pairings, 50 and 200)',
    ours: ms(cpuOurs),
    reference: `${ms(cpuPython)} (Python)`,
    ratio: cpuOurs / cpuPython,
    goal: '≤ 1/30 of Python (0.033×)',
    met: cpuOurs <= cpuPython / 30,
  });
  const o50 = ours.get(50)!;
  const p50 = python.get(50)!;
  figures.push({
    what: 'pairing latency p99, 50 concurrent pairs',
    ours: ms(o50.p99Ms),
    reference: `${ms(p50.p99Ms)} (Python)`,
    ratio: o50.p99Ms / p50.p99Ms,
    goal: '≤ 100 ms',
    met: o50.p99Ms <= 100,
  });
  figures.push(await idleSockets());
  return figures;
}

/** RSS per idle bound socket: 15,000 WebSockets held open on each server (fewer if the fd limit is lower). */
async function idleSockets(): Promise<Figure> {
  const want = Number(process.env.BENCH_IDLE_SOCKETS ?? 15_000);
  const limit = openFileLimit();
  // Server and driver each hold one fd per socket, plus their own (listening socket, files, pipes).
  const count = Math.min(want, limit - 200);
  const scaled = count < want ? `${count} sockets, not ${want}: the open-file limit (ulimit -n) is ${limit}` : undefined;
  if (scaled) say(`  ${scaled}`);
  const measure = async (start: () => Promise<BenchServer>) => {
    const server = await start();
    try {
      const r = await drive<IdleRun>({ mode: 'idle', url: server.url, count, pid: server.pid });
      say(
        `  ${server.name.padEnd(16)} ${r.count} idle sockets: RSS ${(r.before / 2 ** 20).toFixed(0)} → ${(r.after / 2 ** 20).toFixed(0)} MiB, ${kib(r.perSocketBytes)}/socket (opened in ${r.openSeconds.toFixed(1)} s)`,
      );
      return r;
    } finally {
      await server.stop();
    }
  };
  say('Idle bound sockets (open, welcome received, nothing else)');
  const ours = await measure(() => startOurRelay());
  const python = await measure(() => startPythonMailbox());
  return {
    what: `idle sockets: RSS per socket, ${count} on one relay`,
    ours: kib(ours.perSocketBytes),
    reference: `${kib(python.perSocketBytes)} (Python)`,
    ratio: ours.perSocketBytes / python.perSocketBytes,
    goal: '≤ 4 KiB',
    met: ours.perSocketBytes <= 4096,
    note: scaled,
  };
}
