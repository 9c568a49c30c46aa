/**
 * A contact's linked devices on a real relay process (issue 12 §4): Alice pairs with Bob and links
 * Alice2; with all three online, Bob's link holds a channel to each of Alice's devices (two peers,
 * each its own SYNC), Alice's and Alice2's links one each — never one between them — and Bob's
 * message reaches both, while Alice2's reaches Bob straight from Alice2 with Alice online too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import type { Message } from '../src/db/schema.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { until } from './helpers/wait.js';
import { eventsOf } from './helpers/events.js';
import { createHasher } from '../src/files/chunkStore.js';

let relay: RelayProcess;
const dirs: string[] = [];
beforeAll(async () => {
  relay = await startRelayProcess([]);
});
afterAll(async () => {
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A device, and the peers each of its contact links last reported connected (by link actor id). */
async function open(): Promise<{ bc: Backchannel; peers: Map<string, string[]> }> {
  const d = mkdtempSync(join(tmpdir(), 'bc-multipeer-'));
  dirs.push(d);
  const peers = new Map<string, string[]>();
  const inspect = (e: InspectionEvent) => {
    const id = (e.actorRef as { id?: string }).id;
    if (e.type !== '@xstate.snapshot' || !id?.startsWith('link-')) return;
    const context = (e.snapshot as { context?: { peers?: Record<string, unknown> } }).context;
    if (context?.peers) peers.set(id, Object.keys(context.peers));
  };
  const bc = await createBackchannel({ storage: new NodeFsStorage(d), connector: nodeSocketConnector(), relay: relay.url, inspect });
  return { bc, peers };
}

/** The next message with this text on `bc` (or one already there). */
function message(bc: Backchannel, contactId: string, text: string): Promise<Message> {
  return new Promise((resolve) => {
    const there = bc.messages(contactId).find((m) => m.text === text);
    if (there) return resolve(there);
    const off = bc.subscribe((e) => {
      if (e.type === 'message' && e.contactId === contactId && e.message.text === text) {
        off();
        resolve(e.message);
      }
    });
  });
}

describe("a contact's linked devices, each its own channel, through a relay process", () => {
  it('Bob connects to Alice and Alice2 at once; his message reaches both, and Alice2’s reaches him while Alice is online', async () => {
    const alice = await open();
    const bob = await open();
    const alice2 = await open();
    try {
      const { code, done } = await alice.bc.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.bc.accept(code, { moniker: 'Alice' })]);
      const link = await alice.bc.linkDevice();
      await Promise.all([link.done, alice2.bc.acceptLink(link.code)]);
      const bobOnAlice2 = alice2.bc.contacts()[0]!;

      // Bob's link for Alice holds two peers; each of Alice's devices' links for Bob holds one.
      const linkOf = (contactId: string) => `link-${contactId}`;
      await until(() => bob.peers.get(linkOf(aliceOnBob.id))?.length === 2, 60_000);
      await until(() => alice.peers.get(linkOf(bobOnAlice.id))?.length === 1 && alice2.peers.get(linkOf(bobOnAlice2.id))?.length === 1, 60_000);
      expect(bob.bc.presence(aliceOnBob.id)).toBeDefined();

      // Bob's message reaches both of Alice's devices, each over its own channel with him.
      await bob.bc.send(aliceOnBob.id, { text: 'hi to both of you' });
      await Promise.all([message(alice.bc, bobOnAlice.id, 'hi to both of you'), message(alice2.bc, bobOnAlice2.id, 'hi to both of you')]);

      // Alice2's message reaches Bob (straight from Alice2: a contact takes only its writer's inserts) while Alice is online.
      expect(alice.bc.getSnapshot().value).not.toBe('closed');
      const sent = await alice2.bc.send(bobOnAlice2.id, { text: 'from my second device' });
      const got = await message(bob.bc, aliceOnBob.id, 'from my second device');
      expect(got.id).toBe(sent.id);
      expect(got.sender).toBe(alice2.bc.deviceId);
      // Bob passes it on to Alice (a message of her own device), and hers reaches him too.
      await message(alice.bc, bobOnAlice.id, 'from my second device');
      await alice.bc.send(bobOnAlice.id, { text: 'and from my first' });
      expect((await message(bob.bc, aliceOnBob.id, 'and from my first')).sender).toBe(alice.bc.deviceId);

      // A file from Alice reaches Bob intact, though his channel to Alice2 (who does not hold it) runs a file session too.
      const atBob = eventsOf(bob.bc, 'transfer');
      const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
      const withFile = await alice.bc.send(bobOnAlice.id, { text: 'a file', file: { data, filename: 'a.bin', mimetype: 'application/octet-stream' } });
      const hash = withFile.file!.hash;
      await atBob.next((e) => e.hash === hash && e.direction === 'in' && e.status === 'done');
      expect(atBob.seen.filter((e) => e.hash === hash && e.status === 'failed')).toEqual([]);
      const hasher = await createHasher();
      for await (const chunk of (await bob.bc.openFile(hash)) as unknown as AsyncIterable<Uint8Array>) hasher.update(chunk);
      expect(hasher.hex()).toBe(hash);

      // Still two peers on Bob's side, one on each of Alice's: they never connected to each other for Bob's topic.
      expect(bob.peers.get(linkOf(aliceOnBob.id))).toHaveLength(2);
      expect(alice.peers.get(linkOf(bobOnAlice.id))).toHaveLength(1);
      expect(alice2.peers.get(linkOf(bobOnAlice2.id))).toHaveLength(1);

      // Alice goes: Bob keeps Alice2 (one peer), still online.
      await alice.bc.close();
      await until(() => bob.peers.get(linkOf(aliceOnBob.id))?.length === 1, 60_000);
      expect(bob.bc.presence(aliceOnBob.id)).toBeDefined();
    } finally {
      await Promise.all([alice.bc.close(), bob.bc.close(), alice2.bc.close()]);
    }
  }, 180_000);
});
