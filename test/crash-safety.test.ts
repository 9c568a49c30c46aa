/**
 * A child process appending to the database on the real filesystem is killed with SIGKILL at random
 * moments, again and again. Every restart must load cleanly (no quarantine, same device_id), and every
 * message the child acknowledged must be there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { Database } from '../src/db/database.js';
import { ROOT } from './helpers/processes.js';

const WRITER = join(ROOT, 'dist/test/fixtures/writer.js');
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 12);

function runWriter(dir: string, prefix: string, killAfterAcks: number): Promise<{ lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let acks = 0;
    let killed = false;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      acks = (out.match(/^ack /gm) ?? []).length;
      if (!killed && acks >= killAfterAcks) {
        killed = true;
        // Let it run on a little into its next writes, then kill it mid-flight.
        setTimeout(() => child.kill('SIGKILL'), killAfterAcks % 7);
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(guard);
      const lines = out.split('\n').filter(Boolean);
      if (lines.some((l) => l.startsWith('error'))) reject(new Error(`writer failed: ${lines.join('\n')}\n${stderr}`));
      else resolve({ lines });
    });
  });
}

describe('crash safety of the filesystem store', () => {
  it(`survives ${ROUNDS} SIGKILLs mid-write with every acknowledged message intact`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bc-crash-'));
    try {
      const acked: string[] = [];
      let device: string | undefined;
      for (let round = 0; round < ROUNDS; round++) {
        const { lines } = await runWriter(dir, `r${round}`, 5 + ((round * 37) % 40));
        const dev = lines.find((l) => l.startsWith('device '))!.slice(7);
        device ??= dev;
        expect(dev, 'device_id changed across a crash').toBe(device);
        expect(lines).toContain('quarantined 0');
        const have = JSON.parse(lines.find((l) => l.startsWith('have '))!.slice(5)) as string[];
        for (const text of acked) expect(have, `round ${round}: acknowledged ${text} missing`).toContain(text);
        acked.push(...lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4)));
      }
      const db = await Database.open({ storage: new NodeFsStorage(dir) });
      expect(db.quarantined).toEqual([]);
      const texts = db.messages('c0ffee00c0ffee00c0ffee00c0ffee00').map((m) => m.text);
      for (const text of acked) expect(texts).toContain(text);
      expect(acked.length).toBeGreaterThan(ROUNDS * 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
