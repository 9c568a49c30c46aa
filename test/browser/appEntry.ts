/** Bundled for Chromium: Bob's device, the whole SDK (Automerge included) on IndexedDB. */
import { browserSocketConnector } from '../../src/adapters/browserSocket.js';
import { LocalforageStorage } from '../../src/adapters/localforageStorage.js';
import { createBackchannel, type Backchannel } from '../../src/app/backchannel.js';

declare global {
  interface Window {
    bob: {
      open(relay: string): Promise<void>;
      accept(code: string): Promise<{ id: string; verifier: string }>;
      send(contactId: string, text: string): Promise<void>;
      received(): string[];
      close(): Promise<void>;
    };
  }
}

let bc: Backchannel | undefined;
const received: string[] = [];
window.bob = {
  async open(relay) {
    bc = await createBackchannel({
      storage: new LocalforageStorage('bob'),
      connector: browserSocketConnector(),
      relay,
      discoverTimeouts: { reconnectBaseMs: 100 },
    });
    bc.subscribe((e) => {
      if (e.type === 'message' && e.incoming) received.push(e.message.text);
    });
  },
  async accept(code) {
    const c = await bc!.accept(code, { moniker: 'Alice' });
    return { id: c.id, verifier: c.verifier };
  },
  async send(contactId, text) {
    await bc!.send(contactId, { text });
  },
  received: () => [...received],
  async close() {
    await bc!.close();
  },
};
