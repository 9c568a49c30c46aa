/**
 * One connection per device (src/discover/relayMux.ts), against a real relay process: a device with
 * 200 contacts holds one socket to the relay's `/backchannel/v2` (counted by the relay's /metrics and
 * by the device's own connector), not two per contact; over it, messages flow with several contacts
 * at once and changes for an absent contact are deposited; the relay restarts (on the same port and
 * data directory) and the device comes back on one socket, every topic proven again: the deposit
 * reaches the contact who comes online now, and messages flow again.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type BackchannelEvent } from '../src/app/backchannel.js';
import { Database } from '../src/db/database.js';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const CONTACTS = 200;
const dirs = tempDirs('bc-mux-');
const devices: Backchannel[] = [];
const relays: RelayProcess[] = [];
afterAll(async () => {
  await Promise.allSettled(devices.map((d) => d.close()));
  for (const r of relays) r.running.child.kill();
  dirs.removeAll();
});

/** Counts the sockets a device has open to the relay's DISCOVER endpoint right now, and all it dialed. */
function counting(connector: SocketConnector): SocketConnector & { open: number; dialed: number } {
  const counted = Object.assign(
    (url: string, handlers: Parameters<SocketConnector>[1]) => {
      const discover = new URL(url).pathname === DISCOVER_PATH;
      if (discover) counted.dialed++;
      let opened = false;
      const shut = () => {
        if (opened) counted.open--;
        opened = false;
      };
      const socket = connector(url, {
        onOpen: () => {
          if (discover) ((opened = true), counted.open++);
          handlers.onOpen();
        },
        onMessage: (text) => handlers.onMessage(text),
        onClose: (info) => {
          shut();
          handlers.onClose(info);
        },
      });
      // Closed here, a socket need not report its own close.
      return { send: (text: string) => socket.send(text), close: () => (shut(), socket.close()) };
    },
    { open: 0, dialed: 0 },
  );
  return counted;
}

/** A device's storage with these contacts already on it (as if paired), and their ids by key index. */
async function storageWith(keys: Uint8Array[]): Promise<{ storage: MemoryStorage; ids: string[] }> {
  const storage = new MemoryStorage();
  const db = await Database.open({ storage });
  const ids: string[] = [];
  for (const [i, contactKey] of keys.entries()) ids.push((await db.addContact({ moniker: `contact ${i}`, contactKey })).id);
  db.docs.close();
  return { storage, ids };
}

/** The relay's count of open DISCOVER connections, from its /metrics. */
async function discoverConnections(relay: RelayProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.port}/metrics`)).text();
  const line = /^backchannel_connections_open\{service="discover"\} (\d+)$/m.exec(text);
  if (!line) throw new Error(`no discover connections in /metrics:\n${text}`);
  return Number(line[1]);
}

/** Wait until `read` gives `want` (asked again on each of the relay's answers, within a deadline). */
async function until<T>(read: () => Promise<T> | T, want: (v: T) => boolean, what: string, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (want(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 100)); // polling a count we cannot be told of
  }
}

function next(bc: Backchannel, match: (e: BackchannelEvent) => boolean, what: string, ms = 90_000): Promise<BackchannelEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`timed out waiting for ${what}`))), ms);
    const off = bc.subscribe((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

const messageFrom = (contactId: string, text: string) => (e: BackchannelEvent) =>
  e.type === 'message' && e.contactId === contactId && e.incoming && e.message.text === text;

describe('one connection per device, on a relay process', () => {
  it(`${CONTACTS} contacts hold one socket; messages and deposits flow over it, across a relay restart`, { timeout: 300_000 }, async () => {
    const data = dirs.make();
    let relay = await startRelayProcess(['--data', data]);
    relays.push(relay);

    const keys = Array.from({ length: CONTACTS }, () => new Uint8Array(randomBytes(32)));
    const alice = await storageWith(keys);
    // Three of Alice's contacts have a device here: 0 and 1 online from the start, 2 only later.
    const partners = await Promise.all([0, 1, 2].map((i) => storageWith([keys[i]!])));

    const aliceConnector = counting(nodeSocketConnector());
    const aliceBc = await createBackchannel({ storage: alice.storage, connector: aliceConnector, relay: relay.url, journal: false });
    devices.push(aliceBc);
    const open = (i: number) => createBackchannel({ storage: partners[i]!.storage, connector: nodeSocketConnector(), relay: relay.url, journal: false });

    // Everyone of Alice's links announced: both partners see her online.
    const [bob, carol] = await Promise.all([open(0), open(1)]);
    devices.push(bob, carol);
    const aliceId = (i: number) => partners[i]!.ids[0]!;
    await Promise.all([
      next(aliceBc, (e) => e.type === 'presence' && e.contactId === alice.ids[0] && e.via !== undefined, 'Bob online at Alice'),
      next(aliceBc, (e) => e.type === 'presence' && e.contactId === alice.ids[1] && e.via !== undefined, 'Carol online at Alice'),
    ]);

    // Messages both ways with two contacts at once, over Alice's one socket.
    await Promise.all([
      Promise.all([next(aliceBc, messageFrom(alice.ids[0]!, 'from Bob'), 'Bob → Alice'), bob.send(aliceId(0), { text: 'from Bob' })]),
      Promise.all([next(aliceBc, messageFrom(alice.ids[1]!, 'from Carol'), 'Carol → Alice'), carol.send(aliceId(1), { text: 'from Carol' })]),
      Promise.all([next(carol, messageFrom(aliceId(1), 'to Carol'), 'Alice → Carol'), aliceBc.send(alice.ids[1]!, { text: 'to Carol' })]),
    ]);

    // Dave (contact 2) is away: what Alice writes him is deposited.
    const deposited = next(aliceBc, (e) => e.type === 'deposited' && e.contactId === alice.ids[2] && e.upTo?.text === 'for Dave', 'deposit for Dave');
    await aliceBc.send(alice.ids[2]!, { text: 'for Dave' });
    await deposited;

    // One socket from Alice for all 200 contacts (and one from each partner), at the relay and at Alice.
    expect(
      await until(
        () => discoverConnections(relay),
        (n) => n === 3,
        'three DISCOVER connections at the relay',
      ),
    ).toBe(3);
    expect(aliceConnector.open).toBe(1);
    // The relay check's ping is the only other socket Alice ever dialed to /backchannel/v2.
    expect(aliceConnector.dialed).toBeLessThanOrEqual(2);
    console.log(`${CONTACTS} contacts: Alice dialed /backchannel/v2 ${aliceConnector.dialed} time(s), holds ${aliceConnector.open} socket`);

    // The relay restarts on the same port and data directory.
    const relayDown = next(aliceBc, (e) => e.type === 'relay' && e.status === 'unreachable', 'Alice sees the relay go');
    await relay.stop();
    await relayDown;
    const dialedBefore = aliceConnector.dialed;
    relay = await startRelayProcess(['--data', data], { port: relay.port });
    relays.push(relay);

    // Dave comes online now: Alice's deposit kept on the relay's disk reaches him.
    const daveGot = (bc: Backchannel) => next(bc, messageFrom(aliceId(2), 'for Dave'), 'the deposit at Dave');
    const dave = await open(2);
    devices.push(dave);
    await daveGot(dave);

    // Alice is back on one socket, every topic proven again: Bob's next message arrives.
    await Promise.all([
      next(aliceBc, messageFrom(alice.ids[0]!, 'after the restart'), 'Bob → Alice again'),
      bob.send(aliceId(0), { text: 'after the restart' }),
    ]);
    expect(
      await until(
        () => discoverConnections(relay),
        (n) => n === 4,
        'four DISCOVER connections at the restarted relay',
      ),
    ).toBe(4);
    expect(aliceConnector.open).toBe(1);
    console.log(`after the restart: Alice dialed ${aliceConnector.dialed - dialedBefore} more time(s) (attempts while it was down included)`);
  });
});
