import WebSocket from 'ws';
import { DEFAULT_LIMITS, MailboxServer, MemoryMailboxStore, startRelay } from '../server/index.js';
import { browserSocketConnector } from '../src/adapters/browserSocket.js';
import { MemoryNetwork } from '../src/adapters/memoryNetwork.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { freePort } from './helpers/processes.js';
import { runSocketAdapterTests } from './helpers/socketAdapterTests.js';

async function relaySetup(connector: ReturnType<typeof nodeSocketConnector>) {
  const relay = await startRelay();
  return { connector, url: relay.url, deadUrl: `ws://127.0.0.1:${await freePort()}/v1`, teardown: () => relay.close() };
}

runSocketAdapterTests('node (ws)', () => relaySetup(nodeSocketConnector()));
// The browser adapter, driven by ws's WHATWG-style WebSocket (Node 20 has no global one).
runSocketAdapterTests('browser WebSocket API', () => relaySetup(browserSocketConnector(WebSocket as unknown as typeof globalThis.WebSocket)));
runSocketAdapterTests('in-memory network', async () => {
  const server = new MailboxServer({
    store: new MemoryMailboxStore({ limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes }),
    limits: DEFAULT_LIMITS,
    now: Date.now,
  });
  const net = new MemoryNetwork(server);
  net.online = true;
  const dead = new MemoryNetwork(server);
  dead.online = false;
  return {
    connector: (url, handlers) => (url === 'memory://dead' ? dead.connector(url, handlers) : net.connector(url, handlers)),
    url: 'ws://memory/v1',
    deadUrl: 'memory://dead',
    teardown: async () => {},
  };
});
