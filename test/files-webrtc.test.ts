/**
 * A 200 MB file Node ↔ Node over real WebRTC (@roamhq/wrtc), inside a network namespace this test
 * creates: two device processes with disk storage on a relay. The connection is cut at a quarter and
 * the receiving device killed and restarted past half; the file arrives whole (its blake3 read back
 * equals the sender's), each resume starts from what was stored, and neither process's resident set
 * grows by more than a fraction of the file (test/fixtures/fileTransfer.ts does the steps).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, type Netns } from './helpers/netns.js';
import { ROOT } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';
import { FILE_CHUNK_BYTES } from '../src/files/chunkStore.js';

let ns: Netns;
const dirs = tempDirs('bc-files-rtc-');
beforeAll(() => {
  ns = createNetns(83);
});
afterAll(() => {
  ns?.remove();
  dirs.removeAll();
});

const MB = 1024 * 1024;

describe('a 200 MB file over real WebRTC', () => {
  it('survives a cut and a restart of the receiving device, arrives intact, with memory bounded', async () => {
    const [cmd, ...args] = ns.exec([process.execPath, join(ROOT, 'dist/test/fixtures/fileTransfer.js'), dirs.make()]);
    const { code, out, err } = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SIZE_MB: '200' } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    console.log(out.trim().split('\n').at(-1));
    expect(code, err + out).toBe(0);
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(r.via).toEqual(['direct', 'direct']);
    expect(r.size).toBe(200 * MB);
    expect(r.hash).toBe(r.expected);
    expect(r.received).toBe(r.expected);
    // Each resume went on from what Bob had stored, not from the start.
    expect(r.firstAfterCut).toBeGreaterThan(r.atCut - FILE_CHUNK_BYTES * 16);
    expect(r.firstAfterCut).toBeGreaterThan(r.size / 8);
    expect(r.firstAfterRestart).toBeGreaterThan(r.size / 2);
    expect(r.failed).toEqual([]);
    // Peak resident-set growth: under half the file (never whole in memory, on either side; ~50–70 MB measured).
    for (const growth of Object.values(r.growth) as number[]) expect(growth).toBeLessThan(100 * MB);
  }, 300_000);
});
