/**
 * Files between real Chromium (the bundled SDK on IndexedDB) and Node, on a real relay: Bob in the
 * browser sends a Blob, Alice in Node gets it intact; Alice sends a file back, Bob reads it as a Blob
 * whose blake3 is the one announced. First relayed; then over real WebRTC (the browser's own, and
 * @roamhq/wrtc in Node) inside a network namespace the test makes, both sides connected `direct`.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { createHasher, FILE_CHUNK_BYTES } from '../src/files/chunkStore.js';
import { openInChromium } from './helpers/chromium.js';
import { createNetns } from './helpers/netns.js';
import { ROOT } from './helpers/processes.js';
import { tempDirs, until } from './helpers/wait.js';

const dirs = tempDirs('bc-browser-files-');
afterAll(dirs.removeAll);

describe('files with Bob in Chromium', () => {
  it('a Blob from the browser reaches Node intact, and a file from Node reaches the browser intact', async () => {
    const relay = await startRelay();
    const browser = await openInChromium(fileURLToPath(new URL('./browser/filesEntry.ts', import.meta.url)), 'files');
    const alice = await createBackchannel({
      storage: new NodeFsStorage(dirs.make()),
      connector: nodeSocketConnector(),
      relay: relay.url,
      discoverTimeouts: { reconnectBaseMs: 100 },
    });
    try {
      const page = browser.page;
      await page.evaluate((url) => window.files.open(url), relay.url);
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, page.evaluate((c) => window.files.accept(c), code)]);

      const arrived = new Set<string>();
      alice.subscribe((e) => e.type === 'transfer' && e.status === 'done' && e.direction === 'in' && arrived.add(e.hash));
      const size = 2 * FILE_CHUNK_BYTES + 999;
      const fromBrowser = await page.evaluate(([id, n]) => window.files.sendBlob(id as string, n as number), [aliceOnBob.id, size]);
      await until(() => arrived.has(fromBrowser), 60_000);
      const h = await createHasher();
      let got = 0;
      for await (const chunk of (await alice.openFile(fromBrowser)) as unknown as AsyncIterable<Uint8Array>) (h.update(chunk), (got += chunk.length));
      expect(got).toBe(size);
      expect(h.hex()).toBe(fromBrowser);

      const data = new Uint8Array(3 * FILE_CHUNK_BYTES + 5).map((_, i) => (i * 7) & 0xff);
      const sent = await alice.send(bobOnAlice.id, { file: { data, filename: 'from-node.bin', mimetype: 'application/octet-stream' } });
      const hash = sent.file!.hash;
      await until(async () => (await page.evaluate(() => window.files.done())).includes(`in done ${hash}`), 60_000);
      expect(await page.evaluate((x) => window.files.read(x), hash)).toEqual({ size: data.length, hash, type: 'application/octet-stream' });
      await page.evaluate(() => window.files.close());
    } finally {
      await alice.close();
      await browser.close();
      await relay.close();
    }
  }, 120_000);

  it('over real WebRTC in a network namespace: a file Chromium → Node and Node → Chromium, both sides direct, hashes equal', async () => {
    const ns = createNetns(94);
    try {
      const [cmd, ...args] = ns.exec([process.execPath, join(ROOT, 'dist/test/fixtures/filesBrowserWebrtc.js')]);
      const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, err + out).toBe(0);
      const result = JSON.parse(out.trim().split('\n').at(-1)!) as {
        presence: string[];
        toNode: { size: number; hash: string; announced: string };
        toBrowser: { read: { size: number; hash: string; type: string }; announced: string; size: number };
        failures: string[];
      };
      expect(result.presence).toEqual(['direct', 'direct']);
      expect(result.toNode.size).toBe(5 * FILE_CHUNK_BYTES + 4321);
      expect(result.toNode.hash).toBe(result.toNode.announced);
      expect(result.toBrowser.read).toEqual({ size: result.toBrowser.size, hash: result.toBrowser.announced, type: 'application/octet-stream' });
      expect(result.failures).toEqual([]);
    } finally {
      ns.remove();
    }
  }, 200_000);
});
