/**
 * A device that vanishes without closing: Bob's device process is frozen (SIGSTOP: its socket stays
 * open, the kernel still acknowledges bytes, nothing answers), as a laptop lid shut or a browser gone
 * offline leaves it. The relay process's heartbeat (a WebSocket ping every `heartbeatMs`, 10 s by
 * default) drops his silent connection within two beats; Alice's link hears `left` and her `presence`
 * for Bob goes offline. A file Alice sent just after Bob froze — her link still thought him connected —
 * is then reported `waiting` (route 'relay': small enough for the relay's depot).
 *
 * And a device whose socket still answers the relay's pings but carries nothing (what Chromium's
 * offline mode does to an open WebSocket: its network stack answers pings, no frame passes): the
 * relayed channel's own keepalive notices the silence and Alice's presence for Bob goes offline.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent } from '../src/app/backchannel.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { Device } from './helpers/device.js';
import { startRelayProcess } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-vanish-');
const children: { kill(signal?: NodeJS.Signals): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  dirs.removeAll();
});

/** The first event of `bc` that matches, seen from now on (or a rejection after `ms`, naming what came). */
function next(bc: Backchannel, match: (e: BackchannelEvent) => boolean, ms: number): Promise<BackchannelEvent> {
  const seen: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no such event in ${ms} ms; saw ${seen.join(', ')}`))), ms);
    const off = bc.subscribe((e) => {
      seen.push(e.type === 'presence' ? `presence ${e.via ?? 'offline'}` : e.type === 'transfer' ? `transfer ${e.status}` : e.type);
      if (match(e)) (clearTimeout(timer), off(), resolve(e));
    });
  });
}

describe('a device that vanishes without closing', () => {
  it('is shown offline once the relay’s heartbeat drops it; a file sent to it meanwhile is reported waiting', async () => {
    const relay = await startRelayProcess([]);
    children.push(relay.running.child);
    const bob = new Device(dirs.make(), relay.url, children as never);
    const alice = await createBackchannel({
      storage: new NodeFsStorage(dirs.make()),
      connector: nodeSocketConnector(),
      relay: relay.url,
      discoverTimeouts: { reconnectBaseMs: 100 },
    });
    try {
      await bob.wait(/^ready$/);
      bob.tell('invite Alice');
      const [, code] = await bob.wait(/^code (\S+)$/);
      const bobCard = await alice.accept(code!, { moniker: 'Bob' });
      await bob.wait(/^paired /);
      if (!alice.presence(bobCard.id)) await next(alice, (e) => e.type === 'presence' && e.contactId === bobCard.id && e.via !== undefined, 60_000);

      // Bob's process freezes with its socket open; Alice's link does not know yet.
      const gone = next(alice, (e) => e.type === 'presence' && e.contactId === bobCard.id && e.via === undefined, 60_000);
      bob.child.kill('SIGSTOP');
      const waiting = next(alice, (e) => e.type === 'transfer' && e.status === 'waiting', 60_000);
      const sent = await alice.send(bobCard.id, { file: { data: new Uint8Array(5000).fill(7), filename: 'late.bin', mimetype: 'x/y' } });
      await gone;
      expect(alice.presence(bobCard.id)).toBeUndefined();
      expect(await waiting).toMatchObject({ hash: sent.file!.hash, direction: 'out', route: 'relay', total: 5000 }); // small: sealed in the relay's depot
    } finally {
      bob.child.kill('SIGKILL');
      await alice.close();
      await relay.stop();
    }
  }, 120_000);

  it('a device whose socket answers pings but carries nothing (a browser offline) is shown offline once the relayed channel hears nothing', async () => {
    const relay = await startRelayProcess([]);
    children.push(relay.running.child);
    // Bob's sockets: real ones that stop carrying frames either way when frozen (ws still answers pings).
    let frozen = false;
    const inner = nodeSocketConnector();
    const freezable: SocketConnector = (url, handlers) => {
      const socket = inner(url, { ...handlers, onMessage: (text) => !frozen && handlers.onMessage(text) });
      return { send: (text) => !frozen && socket.send(text), close: () => socket.close() };
    };
    const open = (connector: SocketConnector) =>
      createBackchannel({ storage: new NodeFsStorage(dirs.make()), connector, relay: relay.url, discoverTimeouts: { reconnectBaseMs: 100 } });
    const alice = await open(nodeSocketConnector());
    const bob = await open(freezable);
    try {
      const { code, done } = await bob.invite({ moniker: 'Alice' });
      const [bobCard] = await Promise.all([alice.accept(code, { moniker: 'Bob' }), done]);
      if (!alice.presence(bobCard.id)) await next(alice, (e) => e.type === 'presence' && e.contactId === bobCard.id && e.via !== undefined, 60_000);
      expect(alice.presence(bobCard.id)).toBe('relayed');
      const gone = next(alice, (e) => e.type === 'presence' && e.contactId === bobCard.id && e.via === undefined, 90_000);
      frozen = true;
      await gone;
      expect(alice.presence(bobCard.id)).toBeUndefined();
    } finally {
      frozen = false;
      await Promise.all([alice.close(), bob.close()]);
      await relay.stop();
    }
  }, 150_000);
});
