/**
 * Linked devices against a real relay process (issue 12 §4): Alice pairs with Bob, then links a second
 * device of hers by code. Alice2 gets Bob as a contact on the same channel, with Alice's device in its
 * set; a message from Alice2 reaches Bob, Bob's reply reaches Alice2 and, once she is back online,
 * Alice. Link codes and invite codes never redeem as each other, and a wrong code fails typed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { BackchannelError } from '../src/errors.js';
import { replay } from '../src/journal/replay.js';
import type { Message } from '../src/db/schema.js';
import { startRelayProcess, type RelayProcess } from './helpers/processes.js';
import { until } from './helpers/wait.js';

let relay: RelayProcess;
const dirs: string[] = [];
beforeAll(async () => {
  relay = await startRelayProcess([]);
});
afterAll(async () => {
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'bc-link-'));
  dirs.push(d);
  return d;
};
const open = (path: string) => createBackchannel({ storage: new NodeFsStorage(path), connector: nodeSocketConnector(), relay: relay.url });

/** What the journal wrote to disk, as text. */
async function journalOnDisk(bc: Backchannel, path: string): Promise<string> {
  await bc.journal!.flush();
  return (await new NodeFsStorage(path).loadRange(['journal', 'seg'])).map((c) => Buffer.from(c.data).toString('utf8')).join('\n');
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

async function failure(p: Promise<unknown>): Promise<BackchannelError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BackchannelError);
    return err as BackchannelError;
  }
  throw new Error('expected a typed failure');
}

describe('linked devices through a relay process', () => {
  it('Alice links Alice2 by code: Alice2 has Bob on the same channel, talks with him, and Alice sees it when back', async () => {
    const aliceDir = dir();
    let alice = await open(aliceDir);
    const bob = await open(dir());
    const alice2Dir = dir();
    const alice2 = await open(alice2Dir);
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      await alice.send(bobOnAlice.id, { text: 'hello from alice' });
      await message(bob, aliceOnBob.id, 'hello from alice');

      const link = await alice.linkDevice();
      const [linked, joined] = await Promise.all([link.done, alice2.acceptLink(link.code)]);
      expect(linked.verifier).toBe(joined.verifier);
      expect(joined.contacts.map((c) => [c.moniker, c.channels])).toEqual([['Bob', bobOnAlice.channels]]);
      expect(linked.device_id).toBe(alice2.deviceId);
      expect(linked.public_key).toBe(alice2.publicKey);
      expect(joined.devices).toEqual([{ device_id: alice.deviceId, public_key: alice.publicKey }]);
      expect(alice.devices()).toEqual([{ device_id: alice2.deviceId, public_key: alice2.publicKey }]);
      expect(alice2.devices()).toEqual(joined.devices);
      expect(alice2.settings().relay_server).toBe(relay.url);
      const aliceId = alice.deviceId;
      // The link ran through the app machine, journaled on both devices, with no code or contact key in clear.
      const [, w1, w2] = link.code.split('-');
      for (const [bc, path] of [
        [alice, aliceDir],
        [alice2, alice2Dir],
      ] as const) {
        const replayed = await replay(bc.journal!);
        expect(replayed.some((r) => r.path === 'app/pairing' && r.machine === 'pairing' && r.ended === 'done')).toBe(true);
        expect(replayed.some((r) => r.path.startsWith('app/') && r.effect === (bc === alice ? 'saveOwnDevice' : 'adoptLink'))).toBe(true);
        const onDisk = await journalOnDisk(bc, path);
        for (const secret of [`${w1}-${w2}`, bobOnAlice.channels[0]!]) expect(onDisk).not.toContain(secret);
      }

      // Alice goes offline; her second device carries on with Bob: her old message is there too.
      await alice.close();
      const bobOnAlice2 = alice2.contacts()[0]!;
      expect(bobOnAlice2.id).not.toBe(bobOnAlice.id); // a card of its own, on the same channel
      const old = await message(alice2, bobOnAlice2.id, 'hello from alice');
      expect(old.sender).toBe(aliceId);

      const sent = await alice2.send(bobOnAlice2.id, { text: 'hi bob, from my other device' });
      const got = await message(bob, aliceOnBob.id, 'hi bob, from my other device');
      expect(got.id).toBe(sent.id);
      await bob.send(aliceOnBob.id, { text: 'hi alice2' });
      await message(alice2, bobOnAlice2.id, 'hi alice2');

      // Alice2 goes, Alice is back: Bob's reply and Alice2's message reach her too, and hers is not "incoming".
      await alice2.close();
      alice = await open(aliceDir);
      expect(alice.devices()).toEqual([{ device_id: alice2.deviceId, public_key: alice2.publicKey }]); // kept across the restart
      const incoming = new Map<string, boolean>();
      alice.subscribe((e) => e.type === 'message' && incoming.set(e.message.text, e.incoming));
      await message(alice, bobOnAlice.id, 'hi alice2');
      await message(alice, bobOnAlice.id, 'hi bob, from my other device');
      expect(alice.messages(bobOnAlice.id).map((m) => m.text)).toEqual(['hello from alice', 'hi bob, from my other device', 'hi alice2']);
      // Written by a device of hers: not a message from the contact.
      expect(incoming.get('hi bob, from my other device')).toBe(false);
      expect(incoming.get('hi alice2')).toBe(true);
    } finally {
      await Promise.all([alice.close(), bob.close(), alice2.close()]);
    }
  }, 180_000);

  it('Alice unlinks Alice2: it is told through their own channel, wipes its app data and closes; Alice forgets it', async () => {
    const alice2Dir = dir();
    const [alice, bob] = await Promise.all([open(dir()), open(dir())]);
    let alice2 = await open(alice2Dir);
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      const link = await alice.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      expect(alice2.contacts()).toHaveLength(1);

      const told = new Promise<string>((resolve) => alice2.subscribe((e) => e.type === 'unlinked' && resolve(e.by)));
      expect(await alice.unlinkDevice(alice2.deviceId)).toEqual([]);
      expect(alice.devices()).toEqual([]);
      expect(await told).toBe(alice.deviceId);
      await until(() => alice2.getSnapshot().value === 'closed', 60_000);
      await expect(alice.unlinkDevice(alice2.deviceId)).rejects.toMatchObject({ code: 'NOT_FOUND' });

      // Reopened, it is a device of nobody's set, with no contacts; its identity is the same.
      const id = alice2.deviceId;
      alice2 = await open(alice2Dir);
      expect(alice2.deviceId).toBe(id);
      expect(alice2.contacts()).toEqual([]);
      expect(alice2.devices()).toEqual([]);
    } finally {
      await Promise.all([alice.close(), bob.close(), alice2.close()]);
    }
  }, 120_000);

  it('a device away when unlinked hears it when it is back, and wipes itself', async () => {
    const aliceDir = dir();
    const alice2Dir = dir();
    let alice = await open(aliceDir);
    let alice2 = await open(alice2Dir);
    try {
      const link = await alice.linkDevice();
      await Promise.all([link.done, alice2.acceptLink(link.code)]);
      await alice2.close();
      // The notice waits in our own channel; Alice restarts meanwhile (it was saved before unlinkDevice resolved).
      await alice.unlinkDevice(alice2.deviceId);
      await alice.close();
      alice = await open(aliceDir);
      expect(alice.devices()).toEqual([]);
      alice2 = await open(alice2Dir);
      const told = new Promise<string>((resolve) => alice2.subscribe((e) => e.type === 'unlinked' && resolve(e.by)));
      expect(await told).toBe(alice.deviceId);
      await until(() => alice2.getSnapshot().value === 'closed', 60_000);
      alice2 = await open(alice2Dir);
      expect(alice2.devices()).toEqual([]);
    } finally {
      await Promise.all([alice.close(), alice2.close()]);
    }
  }, 120_000);

  it('a link code does not redeem as an invite, an invite does not redeem as a link, a wrong code fails: all typed', async () => {
    const [alice, other] = await Promise.all([open(dir()), open(dir())]);
    try {
      const link = await alice.linkDevice();
      const asInvite = await failure(other.accept(link.code));
      expect(asInvite.code).toBe('CODE_EXPIRED'); // nobody waits on it among invites
      expect(asInvite.message).toContain('acceptLink');
      link.cancel();
      expect((await failure(link.done)).code).toBe('ABORTED');

      const invite = await alice.invite();
      // One pairing at a time: a link while an invite runs is refused, and the invite goes on.
      expect((await failure(alice.linkDevice())).code).toBe('BUSY');
      const asLink = await failure(other.acceptLink(invite.code));
      expect(asLink.code).toBe('CODE_EXPIRED');
      expect(asLink.message).toMatch(/entered with accept\b/);
      invite.cancel();
      await failure(invite.done);

      const link2 = await alice.linkDevice();
      const [nameplate, first] = link2.code.split('-');
      const words = first === 'crossover' ? 'aardvark-absurd' : 'crossover-clockwork'; // never the real words
      const wrong = await failure(other.acceptLink(`${nameplate}-${words}`));
      expect(wrong.code).toBe('WRONG_CODE');
      expect((await failure(link2.done)).code).toBe('WRONG_CODE');
      expect(alice.devices()).toEqual([]);
      expect(other.contacts()).toEqual([]);
    } finally {
      await Promise.all([alice.close(), other.close()]);
    }
  }, 120_000);
});
