/**
 * The Node socket adapter's two backends: `ws` when installed (the default, `webSocket: 'auto'`) and the
 * runtime's global WebSocket otherwise (Node ≥ 22; here ws's WHATWG-style class stands in for it on
 * Node 20): the conformance suite on the global, the frame limit and the handshake timeout on both,
 * what only `ws` sees (the status of a refused upgrade), and the typed error when there is neither.
 * (Without `ws` installed at all: test/package.test.ts, in a fresh project.)
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector, type NodeSocketOptions } from '../src/adapters/nodeSocket.js';
import type { CloseInfo } from '../src/effects/socket.js';
import { InternalError } from '../src/errors.js';
import { freePort } from './helpers/processes.js';
import { runSocketAdapterTests } from './helpers/socketAdapterTests.js';

const scope = globalThis as { WebSocket?: unknown };
const hadGlobal = 'WebSocket' in scope;
const original = scope.WebSocket;
scope.WebSocket ??= WebSocket;
afterAll(() => {
  if (hadGlobal) scope.WebSocket = original;
  else delete scope.WebSocket;
});

runSocketAdapterTests('node (global WebSocket)', async () => {
  const relay = await startRelay();
  return {
    connector: nodeSocketConnector({ webSocket: 'global' }),
    url: relay.url,
    deadUrl: `ws://127.0.0.1:${await freePort()}/v1`,
    teardown: () => relay.close(),
  };
});

/** Open `url` and wait for the close the adapter reports, with whatever came before it. */
function closeOf(options: NodeSocketOptions, url: string): Promise<{ opened: boolean; info: CloseInfo }> {
  return new Promise((resolve) => {
    let opened = false;
    nodeSocketConnector(options)(url, {
      onOpen: () => (opened = true),
      onMessage: () => {},
      onClose: (info) => resolve({ opened, info }),
    });
  });
}

describe.each(['ws', 'global'] as const)('nodeSocketConnector({ webSocket: %s })', (webSocket) => {
  let relay: Relay;
  let silent: Server;
  const held = new Set<Socket>();
  beforeAll(async () => {
    relay = await startRelay();
    // Accepts the TCP connection and never answers the upgrade.
    silent = createServer((socket) => void held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    await relay.close();
  });

  it('closes on a frame over maxPayload (the relay’s welcome is longer than 8 bytes)', async () => {
    const { opened, info } = await closeOf({ webSocket, maxPayload: 8 }, relay.url);
    expect(opened).toBe(true);
    expect(info.reason).toMatch(/Max payload size exceeded/);
  });

  it('gives up on a handshake that never ends', async () => {
    const { opened, info } = await closeOf({ webSocket, handshakeTimeoutMs: 200 }, `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/v1`);
    expect(opened).toBe(false);
    expect(info.reason).toMatch(/handshake/i);
  });

  it(`a refused upgrade: ${webSocket === 'ws' ? 'its HTTP status' : 'no status, as in browsers'}`, async () => {
    const { info } = await closeOf({ webSocket }, relay.url.replace(/\/v1$/, '/no-such-endpoint'));
    if (webSocket === 'ws') expect(info.status).toBeGreaterThanOrEqual(400);
    else expect(info.status).toBeUndefined();
  });
});

describe('without a WebSocket', () => {
  it('the default uses ws when it is installed, without a global', () => {
    const saved = scope.WebSocket;
    delete scope.WebSocket;
    try {
      expect(typeof nodeSocketConnector()).toBe('function');
      expect(() => nodeSocketConnector({ webSocket: 'global' })).toThrow(InternalError);
      expect(() => nodeSocketConnector({ webSocket: 'global' })).toThrow(/no global WebSocket/);
    } finally {
      scope.WebSocket = saved;
    }
  });
});
