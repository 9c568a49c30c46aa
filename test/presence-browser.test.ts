/**
 * A browser that goes offline without closing (Chromium's offline mode: its open WebSocket still
 * answers the relay's pings, no frame passes either way): Alice in Node, watching `presence`, sees
 * Bob in Chromium go offline once her relayed channel to him hears nothing (its keepalive: ≤ 30 s).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { openInChromium } from './helpers/chromium.js';
import { tempDirs } from './helpers/wait.js';
import { eventsOf } from './helpers/events.js';

const dirs = tempDirs('bc-browser-presence-');
afterAll(dirs.removeAll);

describe('Bob in Chromium goes offline', () => {
  it('Alice in Node sees him offline, though his socket stays open', async () => {
    const relay = await startRelay();
    const browser = await openInChromium(fileURLToPath(new URL('./browser/appEntry.ts', import.meta.url)), 'bob');
    const alice = await createBackchannel({
      storage: new NodeFsStorage(dirs.make()),
      connector: nodeSocketConnector(),
      relay: relay.url,
      discoverTimeouts: { reconnectBaseMs: 100 },
    });
    try {
      const presence = eventsOf(alice, 'presence');
      await browser.page.evaluate((url) => window.bob.open(url), relay.url);
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobCard] = await Promise.all([done, browser.page.evaluate((c) => window.bob.accept(c), code)]);
      await presence.next((e) => e.contactId === bobCard.id && e.via !== undefined, 60_000);
      presence.seen.splice(0);
      await browser.page.context().setOffline(true);
      await presence.next((e) => e.contactId === bobCard.id && e.via === undefined, 90_000);
      expect(alice.presence(bobCard.id)).toBeUndefined();
    } finally {
      await alice.close();
      await browser.close();
      await relay.close();
    }
  }, 180_000);
});
