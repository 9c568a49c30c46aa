/** Bundled for Chromium: two devices pair on a real relay, the first watched through the documented one-liner, createBrowserInspector. */
import { createBrowserInspector } from '@statelyai/inspect';
import { browserSocketConnector, createBackchannel } from '../../src/index.js';
import { MemoryStorage } from '../../src/testing.js';

declare global {
  interface Window {
    pairWatched(relay: string, inspectorUrl: string, text: string): Promise<{ code: string; verifier: string; keyHex: string }>;
  }
}

window.pairWatched = async (relay, inspectorUrl, text) => {
  // What docs/inspector.md says, with the inspector window at a local page instead of stately.ai.
  const { inspect } = createBrowserInspector({ url: inspectorUrl });
  const connector = browserSocketConnector();
  const alice = await createBackchannel({ storage: new MemoryStorage(), connector, relay, inspect });
  const bob = await createBackchannel({ storage: new MemoryStorage(), connector, relay });
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  const [bobOnAlice] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
  await alice.send(bobOnAlice.id, { text });
  await Promise.all([alice.close(), bob.close()]);
  return { code, verifier: bobOnAlice.verifier, keyHex: bobOnAlice.channels[0]! };
};
