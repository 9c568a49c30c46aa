/**
 * The app flow with Bob in real Chromium (the bundled SDK on IndexedDB) and Alice in Node, on a real
 * relay: pair → messages both ways → Bob goes offline (closes) → Alice sends three → the relay restarts
 * → Bob comes back (page reloaded, same IndexedDB) and receives all three, once each, in order.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { openInChromium } from './helpers/chromium.js';
import { freePort } from './helpers/processes.js';
import { tempDirs, until } from './helpers/wait.js';

const dirs = tempDirs('bc-browser-app-');
const temp = dirs.make;
afterAll(dirs.removeAll);

describe('Bob in Chromium', () => {
  it('pairs with Alice in Node, talks, and gets what Alice sent while he was away, across a relay restart', async () => {
    const port = await freePort();
    const relayData = temp();
    let relay = await startRelay({ port, dataDir: relayData });
    const browser = await openInChromium(fileURLToPath(new URL('./browser/appEntry.ts', import.meta.url)), 'bob');
    try {
      const page = browser.page;
      const aliceDir = temp();
      const openAlice = () =>
        createBackchannel({
          storage: new NodeFsStorage(aliceDir),
          connector: nodeSocketConnector(),
          relay: relay.url,
          discoverTimeouts: { reconnectBaseMs: 100 },
        });
      let alice = await openAlice();
      await page.evaluate((url) => window.bob.open(url), relay.url);
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, page.evaluate((c) => window.bob.accept(c), code)]);
      expect(aliceOnBob.verifier).toBe(bobOnAlice.verifier);

      await alice.send(bobOnAlice.id, { text: 'hello browser' });
      await until(async () => (await page.evaluate(() => window.bob.received())).includes('hello browser'));
      const back = new Promise<string>((resolve) => alice.subscribe((e) => e.type === 'message' && e.incoming && resolve(e.message.text)));
      await page.evaluate(([id]) => window.bob.send(id!, 'hello node'), [aliceOnBob.id]);
      expect(await back).toBe('hello node');

      // Resolves when the relay holds everything up to the message with this text.
      const depositedUpTo = (text: string) =>
        new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.text === text && resolve()));
      await page.evaluate(() => window.bob.close()); // Bob goes offline
      await page.reload();
      await page.waitForFunction(() => 'bob' in window);
      const one = depositedUpTo('one');
      await alice.send(bobOnAlice.id, { text: 'one' });
      await one;
      await relay.close(); // the relay restarts, its mailbox on disk
      relay = await startRelay({ port, dataDir: relayData });
      const three = depositedUpTo('three');
      await alice.send(bobOnAlice.id, { text: 'two' });
      await alice.send(bobOnAlice.id, { text: 'three' });
      await three;
      await alice.close(); // Alice gone too: only the mailbox can deliver

      await page.evaluate((url) => window.bob.open(url), relay.url); // Bob is back, same IndexedDB
      await until(async () => (await page.evaluate(() => window.bob.received())).length >= 3);
      // A sentinel: Alice comes back and sends one more. Once it is in, anything that could still have
      // arrived (a duplicate, a deposit applied twice) would be there too.
      alice = await openAlice();
      await alice.send(bobOnAlice.id, { text: 'sentinel' });
      await until(async () => (await page.evaluate(() => window.bob.received())).includes('sentinel'));
      await alice.close();
      expect(await page.evaluate(() => window.bob.received())).toEqual(['one', 'two', 'three', 'sentinel']);
      await page.evaluate(() => window.bob.close());
    } finally {
      await browser.close();
      await relay.close();
    }
  }, 120_000);
});
