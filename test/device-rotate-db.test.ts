/**
 * Rotation at the database level (devices/rotate.ts), documents passed by hand between devices as
 * SYNC would: my remaining device and the contact move to the new keys, the unlinked device opens
 * nothing and moves nowhere, a rekey the unlinked device forged is ignored, and a contact whose card
 * trusted my set from the unlinked device now trusts the device that rotated; a crash mid-rotation, or
 * mid-unlink (the app's own unlink cut short), is finished on the next start.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { appActors } from '../src/app/actors.js';
import { toHex } from '../src/crypto/bytes.js';
import { CONTACT_KEYS, Database, documentId, OWN_DEVICES_KEY, ROTATION_PENDING_KEY } from '../src/db/database.js';
import type { DocId } from '../src/db/documentStore.js';
import { deviceSetNotice, type DeviceSetStatement } from '../src/devices/notices.js';
import { makeRekey, openRekey, rekeyOf, rekeyText, type RekeyNotice } from '../src/devices/rekey.js';
import { unlinkedBy, unlinkNotice } from '../src/devices/selfLink.js';
import { unlinkStanding } from '../src/devices/unlinks.js';
import { adoptRekeys, rekeyWaiting, rotateKeys } from '../src/devices/rotate.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import type { StorageKey } from '../src/effects/storage.js';

const open = () => Database.open({ storage: new MemoryStorage() });
const me = (db: Database) => ({ device_id: db.deviceId, public_key: db.publicKey });

/** What SYNC does: `from`'s copy of `channel` merged into `to`'s, checked as from a contact or a device of mine. */
async function pass(from: Database, to: Database, channel: DocId, trust: 'contact' | 'own-device'): Promise<void> {
  const result = await to.docs.update(channel, (doc) => A.merge(A.clone(doc), from.docs.get(channel)), { trust, peer: from.deviceId });
  expect(result.problems).toEqual([]);
}

/** Alice, Alice3 and X (my devices, one set key) and Carol, paired with all three; Carol's card trusts the device `pairedWith` names. */
async function myThreeAndCarol(pairedWith: (d: { alice: Database; x: Database }) => Database, storage = new MemoryStorage()) {
  const [alice, alice3, x, carol] = await Promise.all([Database.open({ storage }), open(), open(), open()]);
  const setKey = alice.setKey();
  await alice.addOwnDevices([me(alice3), me(x)]);
  await alice3.addOwnDevices([me(alice), me(x)], setKey);
  await x.addOwnDevices([me(alice), me(alice3)], setKey);
  const key = cryptoRandomBytes(32);
  for (const d of [alice, alice3, x]) await d.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
  await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: pairedWith({ alice, x }).publicKey });
  return { alice, alice3, x, carol, setKey, key, channel: documentId(key) };
}

describe('rotating after an unlink', () => {
  it('my remaining device and the contact move; the unlinked device (whose forged rekey is ignored) opens nothing', async () => {
    // Carol paired with X: her card trusts my set from X's key, and X's set names my other devices.
    const { alice, alice3, x, carol, setKey, key, channel } = await myThreeAndCarol((d) => d.x);
    const self = alice.selfChannel()!;
    await x.sendMessage(channel, { notice: deviceSetNotice(x.deviceSetStatement()) });
    await pass(x, carol, channel, 'contact');
    await pass(x, alice, channel, 'own-device');

    // X, stolen, forges a later set key for Alice3 before it is unlinked: Alice3 takes no notice of it once X is unlinked.
    const forged = makeRekey(
      { kind: 'set', channel: self, at: alice.now() + 60_000, by: x.publicKey },
      new Uint8Array(32).fill(7),
      [alice3.publicKey],
      (m) => x.sign(m),
      cryptoRandomBytes,
    );
    await x.sendMessage(self, { text: rekeyText(forged) });
    await pass(x, alice, self, 'own-device');

    await alice.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    await alice.removeOwnDevice(x.deviceId);
    const rotated = await rotateKeys(alice, cryptoRandomBytes, alice.now());
    const card = alice.contacts()[0]!;
    expect(rotated).toEqual({ set: true, contacts: [card.id] });
    expect(card.channels).toHaveLength(2);
    expect(card.channels[1]).toBe(toHex(key));
    expect(toHex(alice.setKey())).not.toBe(toHex(setKey));
    expect(toHex(alice.previousSetKey()!)).toBe(toHex(setKey));

    // Alice3: our old channel gives the set key, the new one the contact's.
    await pass(alice, alice3, self, 'own-device');
    expect(rekeyWaiting(alice3)).toBe(true);
    expect(await adoptRekeys(alice3)).toEqual({ set: true, contacts: [] });
    expect(toHex(alice3.setKey())).toBe(toHex(alice.setKey()));
    expect(alice3.ownDevices()).toEqual([me(alice)]);
    await pass(alice, alice3, alice.selfChannel()!, 'own-device');
    expect(await adoptRekeys(alice3)).toEqual({ set: false, contacts: [alice3.contacts()[0]!.id] });
    expect(alice3.contacts()[0]!.channels).toEqual(card.channels);
    expect(rekeyWaiting(alice3)).toBe(false);

    // Carol: the notice in the old channel; the device her card trusted left, so she trusts Alice now.
    await pass(alice, carol, channel, 'contact');
    expect(rekeyWaiting(carol)).toBe(true);
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(card.channels);
    expect(carol.contacts()[0]!.public_key).toBe(alice.publicKey);
    // In the new channel she takes Alice3's messages (Alice's new set names it), not X's.
    const next = documentId(Buffer.from(card.channels[0]!, 'hex'));
    await pass(alice, carol, next, 'contact');
    expect([...carol.peerDevices(next, carol.docs.get(next))].sort()).toEqual([alice.deviceId, alice3.deviceId].sort());

    // X has every old document, and nothing to open in them.
    await pass(alice, x, self, 'own-device');
    await pass(alice, x, channel, 'contact');
    expect(rekeyWaiting(x)).toBe(false);
    expect(await adoptRekeys(x)).toEqual({ set: false, contacts: [] });
    expect(x.contacts()[0]!.channels).toEqual([toHex(key)]);
    expect(x.docs.has(next)).toBe(false);
  });

  it("a device my rotation left out cannot win a later race in the old channel (its rekey's `at` is its own to pick)", async () => {
    const { alice, alice3, x, carol, channel } = await myThreeAndCarol((d) => d.alice);
    // Alice3's set (naming X) reached Carol before the unlink: X stays in Carol's proven set through it.
    await alice3.sendMessage(channel, { notice: deviceSetNotice(alice3.deviceSetStatement()) });
    await pass(alice3, alice, channel, 'own-device');

    await alice.sendMessage(alice.selfChannel()!, { text: unlinkNotice(x.deviceId) });
    await alice.removeOwnDevice(x.deviceId);
    await rotateKeys(alice, cryptoRandomBytes, alice.now());
    const moved = alice.contacts()[0]!.channels;
    await pass(alice, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(moved);
    expect(carol.provenSet(carol.contacts()[0]!).keys.has(x.publicKey)).toBe(true);

    // X writes a later rotation of the old channel, sealed to Carol: she stays on Alice's key.
    await pass(carol, x, channel, 'contact');
    const forged = makeRekey(
      { kind: 'contact', channel, at: Number.MAX_SAFE_INTEGER, by: x.publicKey, set: x.deviceSetStatement() },
      new Uint8Array(32).fill(9),
      [carol.publicKey],
      (m) => x.sign(m),
      cryptoRandomBytes,
    );
    await x.sendMessage(channel, { notice: rekeyText(forged) });
    await pass(x, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(moved);
  });

  it('two of my devices unlinking at once: every device ends on one set key and one contact key, sealed to neither unlinked device', async () => {
    const [alice, bea, x, y, carol] = await Promise.all([open(), open(), open(), open(), open()]);
    const setKey = alice.setKey();
    const mine = [alice, bea, x, y];
    for (const d of mine) await d.addOwnDevices(mine.filter((o) => o !== d).map(me), d === alice ? undefined : setKey);
    const key = cryptoRandomBytes(32);
    for (const d of mine) await d.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    await alice.sendMessage(documentId(key), { notice: deviceSetNotice(alice.deviceSetStatement()) });
    await pass(alice, carol, documentId(key), 'contact');

    // Alice unlinks X while Bea unlinks Y, neither having heard of the other's.
    for (const [d, gone] of [
      [alice, x],
      [bea, y],
    ] as const) {
      await d.sendMessage(d.selfChannel()!, { text: unlinkNotice(gone.deviceId) });
      await d.removeOwnDevice(gone.deviceId);
      await rotateKeys(d, cryptoRandomBytes, 1_000);
    }
    expect(toHex(alice.setKey())).not.toBe(toHex(bea.setKey()));

    // Then they sync (Alice and Bea every channel they share, each with Carol their channels), and take in what came.
    const links: [Database, Database, 'contact' | 'own-device'][] = [
      [alice, bea, 'own-device'],
      [bea, alice, 'own-device'],
      [alice, carol, 'contact'],
      [bea, carol, 'contact'],
      [carol, alice, 'contact'],
      [carol, bea, 'contact'],
    ];
    for (let round = 0; round < 8; round++) {
      for (const [from, to, trust] of links)
        for (const id of from.docs.openIds())
          if (from.docs.kindOf(id) === 'channel' && to.docs.has(id) && to.docs.kindOf(id) === 'channel') await pass(from, to, id, trust);
      for (const d of [alice, bea, carol]) if (rekeyWaiting(d)) await adoptRekeys(d, cryptoRandomBytes);
    }
    for (const d of [alice, bea, carol]) expect(rekeyWaiting(d)).toBe(false);
    expect(toHex(bea.setKey())).toBe(toHex(alice.setKey()));
    const final = alice.contacts()[0]!.channels[0];
    expect(bea.contacts()[0]!.channels[0]).toBe(final);
    expect(carol.contacts()[0]!.channels[0]).toBe(final);
    expect(alice.ownDevices()).toEqual([me(bea)]);
    expect(bea.ownDevices()).toEqual([me(alice)]);
    // The rotations that lead to the keys in use: sealed to Alice, Bea and Carol only.
    const allowed = new Set([alice.publicKey, bea.publicKey, carol.publicKey]);
    const leadsTo = (d: Database, wanted: string) =>
      d.docs
        .openIds()
        .filter((id) => d.docs.kindOf(id) === 'channel')
        .flatMap((id) => d.messages(id).flatMap((m) => [m.text, m.notice]))
        .map((t) => rekeyOf(t) as RekeyNotice | undefined)
        .filter((n): n is RekeyNotice => n !== undefined)
        .filter((n) => Object.keys(n.sealed).some((k) => k === wanted));
    const found = new Set<string>();
    for (const n of [...leadsTo(alice, bea.publicKey), ...leadsTo(bea, alice.publicKey)]) {
      const opened = toHex(
        openRekey(n, n.by === alice.publicKey ? bea.publicKey : alice.publicKey, (box) => (n.by === alice.publicKey ? bea : alice).openSealed(box))!,
      );
      if (opened !== toHex(alice.setKey()) && opened !== final) continue;
      found.add(opened);
      expect(Object.keys(n.sealed).every((k) => allowed.has(k))).toBe(true);
    }
    expect(found).toEqual(new Set([toHex(alice.setKey()), final]));
  });
});

/** Alice, Bea and X, my three devices (Bea given, say on a storage that can crash); Alice unlinked X and rotated away from `setKey`. */
async function aliceUnlinksX(beaDb?: Database) {
  const [alice, bea, x] = await Promise.all([open(), beaDb ?? open(), open()]);
  const setKey = alice.setKey();
  const mine = [alice, bea, x];
  for (const d of mine) await d.addOwnDevices(mine.filter((o) => o !== d).map(me), d === alice ? undefined : setKey);
  const self = alice.selfChannel()!;
  await alice.sendMessage(self, { text: unlinkNotice(x.deviceId) });
  await alice.removeOwnDevice(x.deviceId);
  await rotateKeys(alice, cryptoRandomBytes, alice.now());
  return { alice, bea, x, self, setKey };
}

describe('unlink notices an unlinked device forges', () => {
  it('the rule: a notice counts if its signer stands; a cycle goes to the most unlinked device, a tie stays contested', () => {
    const known = new Set(['a', 'b', 'd', 'x']);
    // A plain unlink.
    expect(unlinkStanding([{ by: 'a', target: 'x' }], known)).toMatchObject({ out: new Set(['x']), contested: new Set() });
    // X, unlinked by A whom nobody unlinks, unlinks A and D: it is out, its notices count for nothing.
    const answered = [
      { by: 'a', target: 'x' },
      { by: 'x', target: 'a' },
      { by: 'x', target: 'd' },
      { by: 'b', target: 'x' },
    ];
    for (const edges of [answered, [...answered].reverse()]) expect(unlinkStanding(edges, known)).toMatchObject({ out: new Set(['x']), contested: new Set() });
    // A and X unlink each other and nobody else speaks: neither removes the other, both are contested.
    expect(
      unlinkStanding(
        [
          { by: 'a', target: 'x' },
          { by: 'x', target: 'a' },
        ],
        known,
      ),
    ).toMatchObject({ out: new Set(), contested: new Set(['a', 'x']) });
    // X unlinks everyone: A and B unlink X, the two outvote it.
    const everyone = [
      { by: 'x', target: 'a' },
      { by: 'x', target: 'b' },
      { by: 'x', target: 'd' },
      { by: 'a', target: 'x' },
      { by: 'b', target: 'x' },
    ];
    expect(unlinkStanding(everyone, known)).toMatchObject({ out: new Set(['x']), contested: new Set() });
    // Devices not of mine do not count.
    expect(unlinkStanding([{ by: 'z', target: 'a' }], known).out.size).toBe(0);
  });

  it('a tie stays a tie when one of its devices also unlinks a device nobody else does', () => {
    const known = new Set(['a', 'b', 'c', 'd']);
    // A, B and C each unlink the other two (a full tie); A also unlinks D. D's one vote must not
    // turn the tie into "the most unlinked": before, all three of my devices came out removed.
    const tie = ['a', 'b', 'c'].flatMap((by) => ['a', 'b', 'c'].filter((t) => t !== by).map((target) => ({ by, target })));
    expect(unlinkStanding(tie, known)).toMatchObject({ out: new Set(), contested: new Set(['a', 'b', 'c']) });
    const s = unlinkStanding([...tie, { by: 'a', target: 'd' }], known);
    expect(s.out.has('a') || s.out.has('b') || s.out.has('c')).toBe(false);
    expect([...s.contested].sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a device back from being away keeps the device that unlinked, though the unlinked one unlinked it (and this one) in the same batch', async () => {
    const [alice, bea, dee, x, carol] = await Promise.all([open(), open(), open(), open(), open()]);
    const setKey = alice.setKey();
    const mine = [alice, bea, dee, x];
    for (const d of mine) await d.addOwnDevices(mine.filter((o) => o !== d).map(me), d === alice ? undefined : setKey);
    const key = cryptoRandomBytes(32);
    for (const d of mine) await d.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    const self = alice.selfChannel()!;

    await alice.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    await alice.removeOwnDevice(x.deviceId);
    await rotateKeys(alice, cryptoRandomBytes, alice.now());
    // Bea is there: she follows, and says so in the old channel too.
    await pass(alice, bea, self, 'own-device');
    await adoptRekeys(bea, cryptoRandomBytes);
    expect(bea.ownDevices()).toEqual([me(alice), me(dee)]);
    // X still holds the old set key: signed notices unlinking Alice and Dee, and one naming Alice as its writer.
    await pass(alice, x, self, 'own-device');
    await x.sendMessage(self, { text: unlinkNotice(alice.deviceId) });
    await x.sendMessage(self, { text: unlinkNotice(dee.deviceId) });
    await x.docs.change<{ messages: unknown[] }>(self, (c) => {
      c.messages.push({ id: 'f'.repeat(32), timestamp: 1, sender: alice.deviceId, text: unlinkNotice(bea.deviceId) });
    });
    // Dee, back, reads it all at once.
    for (const from of [x, bea, alice]) await pass(from, dee, self, 'own-device');
    const ids = (d: Database) => new Set(d.ownDevices().map((o) => o.device_id));
    expect(unlinkedBy(dee.messages(self), dee.deviceId, ids(dee))).toBeUndefined();
    expect([alice.deviceId, bea.deviceId]).toContain(unlinkedBy(dee.messages(self), x.deviceId, ids(dee)));
    await adoptRekeys(dee, cryptoRandomBytes);
    expect(
      dee
        .ownDevices()
        .map((d) => d.device_id)
        .sort(),
    ).toEqual([alice.deviceId, bea.deviceId].sort());
    expect(toHex(dee.setKey())).toBe(toHex(alice.setKey()));
  });

  it('with no other device to outvote it, the unlinked device removes nobody: the device away stays put, trusting neither', async () => {
    const { alice, bea, x, self, setKey } = await aliceUnlinksX();
    await pass(alice, x, self, 'own-device');
    await x.sendMessage(self, { text: unlinkNotice(alice.deviceId) });
    // And a later rotation of its own, sealed to Bea.
    const forged = makeRekey(
      { kind: 'set', channel: self, at: alice.now() + 60_000, by: x.publicKey },
      cryptoRandomBytes(32),
      [bea.publicKey],
      (m) => x.sign(m),
      cryptoRandomBytes,
    );
    await x.sendMessage(self, { text: rekeyText(forged) });
    for (const from of [x, alice]) await pass(from, bea, self, 'own-device');
    await adoptRekeys(bea, cryptoRandomBytes);
    expect(
      bea
        .ownDevices()
        .map((d) => d.device_id)
        .sort(),
    ).toEqual([alice.deviceId, x.deviceId].sort());
    expect(toHex(bea.setKey())).toBe(toHex(setKey));
    // The user unlinks X there too: two against one, Bea and Alice settle on one set key.
    await bea.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    await bea.removeOwnDevice(x.deviceId);
    await rotateKeys(bea, cryptoRandomBytes, alice.now() + 1);
    for (let round = 0; round < 4; round++) {
      for (const [from, to] of [
        [alice, bea],
        [bea, alice],
      ] as const)
        for (const id of from.docs.openIds())
          if (from.docs.kindOf(id) === 'channel' && to.docs.has(id) && to.docs.kindOf(id) === 'channel') await pass(from, to, id, 'own-device');
      for (const d of [alice, bea]) if (rekeyWaiting(d)) await adoptRekeys(d, cryptoRandomBytes);
    }
    expect(bea.ownDevices()).toEqual([me(alice)]);
    expect(alice.ownDevices()).toEqual([me(bea)]);
    expect(toHex(bea.setKey())).toBe(toHex(alice.setKey()));
  });
});

describe('a crash in the middle of a rotation', () => {
  /** Alice (on `storage`), Alice3, X and Carol; Alice has written X's unlink and forgotten it. */
  async function unlinked() {
    const storage = new MemoryStorage();
    const [alice, alice3, x, carol] = await Promise.all([Database.open({ storage }), open(), open(), open()]);
    const setKey = alice.setKey();
    await alice.addOwnDevices([me(alice3), me(x)]);
    await alice3.addOwnDevices([me(alice), me(x)], setKey);
    const key = cryptoRandomBytes(32);
    for (const d of [alice, alice3]) await d.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    const self = alice.selfChannel()!;
    await alice.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    await alice.removeOwnDevice(x.deviceId);
    return { storage, alice, alice3, carol, key, self, channel: documentId(key) };
  }
  const sign = (db: Database) => (m: Uint8Array) => db.sign(m);

  it('after the contact notice, before the move: on start Alice moves to the key the contact already took', async () => {
    const { storage, alice, alice3, carol, channel, self } = await unlinked();
    // rotateKeys's steps, by hand, up to the contact's notice.
    const at = alice.now();
    await alice.setRotationPending(at);
    const nextSet = cryptoRandomBytes(32);
    await alice.sendMessage(self, {
      text: rekeyText(
        makeRekey({ kind: 'set', channel: self, at, by: alice.publicKey }, nextSet, [alice3.publicKey, alice.publicKey], sign(alice), cryptoRandomBytes),
      ),
    });
    await alice.rekeySet(nextSet);
    const statement = alice.deviceSetStatement(at);
    const next = cryptoRandomBytes(32);
    await alice.sendMessage(channel, { notice: deviceSetNotice(statement) });
    const notice = makeRekey(
      { kind: 'contact', channel, at, by: alice.publicKey, set: statement },
      next,
      [carol.publicKey, alice3.publicKey, alice.publicKey],
      sign(alice),
      cryptoRandomBytes,
    );
    await alice.sendMessage(channel, { notice: rekeyText(notice) });
    // The crash: the same storage, opened again. Carol has the notice and moves.
    alice.docs.close();
    const again = await Database.open({ storage });
    await pass(again, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels[0]).toBe(toHex(next));

    expect(again.contacts()[0]!.channels[0]).not.toBe(toHex(next));
    expect(rekeyWaiting(again)).toBe(true);
    await adoptRekeys(again, cryptoRandomBytes);
    expect(again.contacts()[0]!.channels).toEqual(carol.contacts()[0]!.channels);
    expect(toHex(again.setKey())).toBe(toHex(nextSet));
    expect(again.rotationPending()).toBeUndefined();
    expect(rekeyWaiting(again)).toBe(false);
    // Alice3 follows both, from the old channels.
    await pass(again, alice3, self, 'own-device');
    await pass(again, alice3, channel, 'own-device');
    await adoptRekeys(alice3);
    expect(toHex(alice3.setKey())).toBe(toHex(nextSet));
    expect(alice3.contacts()[0]!.channels[0]).toBe(toHex(next));
  });

  it('after the set notice, before the move: on start Alice takes the set key Alice3 took, then rotates the contact', async () => {
    const { storage, alice, alice3, carol, channel, self, key } = await unlinked();
    const at = alice.now();
    await alice.setRotationPending(at);
    const nextSet = cryptoRandomBytes(32);
    await alice.sendMessage(self, {
      text: rekeyText(
        makeRekey({ kind: 'set', channel: self, at, by: alice.publicKey }, nextSet, [alice3.publicKey, alice.publicKey], sign(alice), cryptoRandomBytes),
      ),
    });
    alice.docs.close();
    const again = await Database.open({ storage });
    await pass(again, alice3, self, 'own-device');
    await adoptRekeys(alice3);
    expect(toHex(alice3.setKey())).toBe(toHex(nextSet));

    expect(rekeyWaiting(again)).toBe(true);
    await adoptRekeys(again, cryptoRandomBytes);
    expect(toHex(again.setKey())).toBe(toHex(nextSet));
    const card = again.contacts()[0]!;
    expect(card.channels).toHaveLength(2);
    expect(card.channels[1]).toBe(toHex(key));
    await pass(again, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(card.channels);
    expect(rekeyWaiting(again)).toBe(false);
  });
});

/** Storage that crashes: once `crashAfter` names a key just saved, every later write fails (what came before stays). */
class CrashingStorage extends MemoryStorage {
  crashAfter: ((key: StorageKey) => boolean) | undefined;
  #crashed = false;
  #check(): void {
    if (this.#crashed) throw new Error('crashed');
  }
  override async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.#check();
    await super.save(key, data);
    if (this.crashAfter?.(key)) this.#crashed = true;
  }
  override async remove(key: StorageKey): Promise<void> {
    this.#check();
    await super.remove(key);
  }
  override async removeRange(prefix: StorageKey): Promise<void> {
    this.#check();
    await super.removeRange(prefix);
  }
  /** The device starts again on what was stored. */
  restart(): void {
    this.crashAfter = undefined;
    this.#crashed = false;
  }
}

describe('a crash in the middle of an unlink', () => {
  it('after the notice and the device forgotten, before the rotation: on start the rotation the unlink marked pending is finished', async () => {
    const storage = new CrashingStorage();
    const { alice, alice3, x, carol, setKey, key, channel } = await myThreeAndCarol((d) => d.alice, storage);
    const self = alice.selfChannel()!;
    // The app's unlink itself, cut short at the first write after it forgot X (the rotation's first).
    storage.crashAfter = (k) => k.join('/') === OWN_DEVICES_KEY.join('/');
    const unlink = createActor(appActors.unlinkDevice, { input: { db: alice, deviceId: x.deviceId, randomBytes: cryptoRandomBytes } }).start();
    await expect(toPromise(unlink)).rejects.toThrow('crashed');
    alice.docs.close();
    storage.restart();
    const again = await Database.open({ storage });
    expect(again.messages(self).map((m) => m.text)).toContain(unlinkNotice(x.deviceId));
    expect(again.ownDevices()).toEqual([me(alice3)]);
    expect(toHex(again.setKey())).toBe(toHex(setKey));
    expect(again.contacts()[0]!.channels).toEqual([toHex(key)]);

    // On start (the app adopts what is waiting): a new set key, and Carol's card on a new key.
    expect(rekeyWaiting(again)).toBe(true);
    await adoptRekeys(again, cryptoRandomBytes);
    expect(toHex(again.setKey())).not.toBe(toHex(setKey));
    const card = again.contacts()[0]!;
    expect(card.channels).toHaveLength(2);
    expect(card.channels[1]).toBe(toHex(key));
    expect(again.rotationPending()).toBeUndefined();
    expect(rekeyWaiting(again)).toBe(false);
    await pass(again, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(card.channels);
    await pass(again, alice3, self, 'own-device');
    await adoptRekeys(alice3);
    expect(toHex(alice3.setKey())).toBe(toHex(again.setKey()));

    // X gets the old channels and opens none of their boxes.
    await pass(again, x, self, 'own-device');
    await pass(again, x, channel, 'contact');
    const rekeys = [self, channel]
      .flatMap((id) => x.messages(id).flatMap((m) => [m.text, m.notice]))
      .map((t) => rekeyOf(t) as RekeyNotice | undefined)
      .filter((n): n is RekeyNotice => n !== undefined);
    expect(rekeys.length).toBeGreaterThanOrEqual(2);
    for (const n of rekeys) expect(openRekey(n, x.publicKey, (box) => x.openSealed(box))).toBeUndefined();
    expect(rekeyWaiting(x)).toBe(false);
    expect(await adoptRekeys(x)).toEqual({ set: false, contacts: [] });
    expect(x.docs.has(documentId(Buffer.from(card.channels[0]!, 'hex')))).toBe(false);
  });
});

describe('a crash before the unlink is done', () => {
  /** Every rekey notice `db` holds, in any channel (text or notice). */
  const rekeysIn = (db: Database): RekeyNotice[] =>
    db.docs
      .openIds()
      .filter((id) => db.docs.kindOf(id) === 'channel')
      .flatMap((id) => db.messages(id).flatMap((m) => [m.text, m.notice]))
      .map((t) => rekeyOf(t) as RekeyNotice | undefined)
      .filter((n): n is RekeyNotice => n !== undefined);
  /** The app's unlink of X on Alice, cut short right after the storage write `crashAfter` names; Alice started again. */
  async function cutShort(crashAfter: (k: StorageKey, self: DocId) => boolean) {
    const storage = new CrashingStorage();
    const my = await myThreeAndCarol((d) => d.alice, storage);
    const self = my.alice.selfChannel()!;
    storage.crashAfter = (k) => crashAfter(k, self);
    const unlink = createActor(appActors.unlinkDevice, { input: { db: my.alice, deviceId: my.x.deviceId, randomBytes: cryptoRandomBytes } }).start();
    await expect(toPromise(unlink)).rejects.toThrow('crashed');
    my.alice.docs.close();
    storage.restart();
    return { ...my, storage, self, again: await Database.open({ storage }) };
  }
  /** On start: X forgotten, every key moved, no box for X anywhere; Alice3 and Carol follow. */
  async function finished({ again, alice3, x, carol, setKey, self, channel }: Awaited<ReturnType<typeof cutShort>>) {
    expect(rekeyWaiting(again)).toBe(true);
    await adoptRekeys(again, cryptoRandomBytes);
    const rekeys = rekeysIn(again);
    expect(rekeys.length).toBeGreaterThanOrEqual(2);
    for (const n of rekeys) expect(Object.keys(n.sealed), 'a box sealed to X').not.toContain(x.publicKey);
    for (const n of rekeys) expect(n.set?.devices.map((d) => d.device_id) ?? []).not.toContain(x.deviceId);
    expect(again.ownDevices()).toEqual([me(alice3)]);
    expect(again.rotationPending()).toBeUndefined();
    expect(toHex(again.setKey())).not.toBe(toHex(setKey));
    const card = again.contacts()[0]!;
    expect(card.channels).toHaveLength(2);
    await pass(again, carol, channel, 'contact');
    await adoptRekeys(carol);
    expect(carol.contacts()[0]!.channels).toEqual(card.channels);
    return { card, rekeys, self };
  }

  it('after the marker, before the notice: on start the unlink is written, X forgotten, and nothing sealed to it', async () => {
    const run = await cutShort((k) => k.join('/') === ROTATION_PENDING_KEY.join('/'));
    const { again, x, alice3, self } = run;
    expect(again.messages(self).map((m) => m.text)).not.toContain(unlinkNotice(x.deviceId));
    expect(again.ownDevices().map((d) => d.device_id)).toContain(x.deviceId);
    await finished(run);
    expect(again.messages(self).filter((m) => m.sender === again.deviceId && m.text === unlinkNotice(x.deviceId))).toHaveLength(1);
    // Alice3 reads the notice and the set key beside it.
    await pass(again, alice3, self, 'own-device');
    await adoptRekeys(alice3);
    expect(alice3.ownDevices()).toEqual([me(again)]);
    expect(toHex(alice3.setKey())).toBe(toHex(again.setKey()));
  });

  it('after the notice, X counter-unlinking Alice (contested): on start X is still forgotten, nothing sealed to it', async () => {
    const run = await cutShort((k, self) => k[0] === 'docs' && k[2] === self);
    const { again, x, self } = run;
    expect(again.messages(self).map((m) => m.text)).toContain(unlinkNotice(x.deviceId));
    expect(again.ownDevices().map((d) => d.device_id)).toContain(x.deviceId);
    // X, stolen, reads the notice and answers with its own: one vote each, a tie.
    await pass(again, x, self, 'own-device');
    await x.sendMessage(self, { text: unlinkNotice(again.deviceId) });
    await pass(x, again, self, 'own-device');
    await finished(run);
    // My notice is not written twice.
    expect(again.messages(self).filter((m) => m.sender === again.deviceId && m.text === unlinkNotice(x.deviceId))).toHaveLength(1);
  });

  it('a marker an older version wrote (the `at` alone), after the notice, X counter-unlinking: read, and X forgotten by the notice', async () => {
    const storage = new CrashingStorage();
    const my = await myThreeAndCarol((d) => d.alice, storage);
    const { alice, x } = my;
    const self = alice.selfChannel()!;
    // The older unlink's first steps, then the crash.
    const at = alice.now();
    await storage.save(ROTATION_PENDING_KEY, new TextEncoder().encode(String(at)));
    await alice.sendMessage(self, { text: unlinkNotice(x.deviceId) });
    alice.docs.close();
    const again = await Database.open({ storage });
    await pass(again, x, self, 'own-device');
    await x.sendMessage(self, { text: unlinkNotice(again.deviceId) });
    await pass(x, again, self, 'own-device');
    await finished({ ...my, storage, self, again });
  });
});

describe('a crash while forgetting a device another of mine unlinked', () => {
  /** Alice, Bea (on a storage that can crash) and X; Alice unlinked X and rotated; Bea has it all, not yet adopted. */
  async function aliceUnlinkedX() {
    const storage = new CrashingStorage();
    const { alice, bea, x, self } = await aliceUnlinksX(await Database.open({ storage }));
    await pass(alice, bea, self, 'own-device');
    /** My own unlink notices of X in our old own channel. */
    const mineOfX = (db: Database) => db.messages(self).filter((m) => m.sender === db.deviceId && m.text === unlinkNotice(x.deviceId));
    return { storage, alice, bea, x, self, mineOfX };
  }

  it('at the removal: on start my own notice of the unlink is there (written first), and X is forgotten', async () => {
    const { storage, alice, bea, mineOfX } = await aliceUnlinkedX();
    // Bea forgets X: cut short right after the write that forgets it.
    storage.crashAfter = (k) => k.join('/') === OWN_DEVICES_KEY.join('/');
    await expect(adoptRekeys(bea, cryptoRandomBytes)).rejects.toThrow('crashed');
    bea.docs.close();
    storage.restart();
    const again = await Database.open({ storage });
    expect(again.ownDevices()).toEqual([me(alice)]);
    expect(mineOfX(again)).toHaveLength(1);
    await adoptRekeys(again, cryptoRandomBytes);
    expect(toHex(again.setKey())).toBe(toHex(alice.setKey()));
    expect(mineOfX(again)).toHaveLength(1);
  });

  it('at the notice: on start X is forgotten, my notice not written twice', async () => {
    const { storage, alice, bea, x, self, mineOfX } = await aliceUnlinkedX();
    // Bea's first write in our own channel now: her own notice.
    storage.crashAfter = (k) => k[0] === 'docs' && k[2] === self;
    await expect(adoptRekeys(bea, cryptoRandomBytes)).rejects.toThrow('crashed');
    bea.docs.close();
    storage.restart();
    const again = await Database.open({ storage });
    expect(mineOfX(again)).toHaveLength(1);
    expect(again.ownDevices().map((d) => d.device_id)).toContain(x.deviceId);
    await adoptRekeys(again, cryptoRandomBytes);
    expect(again.ownDevices()).toEqual([me(alice)]);
    expect(mineOfX(again)).toHaveLength(1);
    expect(toHex(again.setKey())).toBe(toHex(alice.setKey()));
  });
});

describe("the keys a contact's channels trust follow the card", () => {
  it("a set in the new channel that drops a device refuses it in the old channel too, though the old channel's keys were read before", async () => {
    const { alice, alice3, x, carol, channel, key } = await myThreeAndCarol((d) => d.alice);
    await alice.sendMessage(channel, { notice: deviceSetNotice(alice.deviceSetStatement()) });
    await pass(alice, carol, channel, 'contact');
    // Both move to K′ (as a rotation would).
    const next = cryptoRandomBytes(32);
    await carol.rekeyContact(carol.contacts()[0]!.id, next);
    await alice.rekeyContact(alice.contacts()[0]!.id, next);
    // Carol reads K's keys again (Alice passes on Alice3's message there): X is still in the set K proves.
    await alice3.sendMessage(channel, { text: 'from Alice3, in K' });
    await pass(alice3, alice, channel, 'own-device');
    await pass(alice, carol, channel, 'contact');
    // Alice's newer set, in K′ only, drops X.
    await alice.removeOwnDevice(x.deviceId);
    await alice.sendMessage(documentId(next), { notice: deviceSetNotice(alice.deviceSetStatement(alice.now() + 1)) });
    await pass(alice, carol, documentId(next), 'contact');
    expect(carol.provenSet(carol.contacts()[0]!).keys.has(x.publicKey)).toBe(false);
    // X writes in K; Alice's copy passes it on: Carol refuses it, X is in no set she trusts.
    await x.sendMessage(channel, { text: 'from X, in K' });
    await pass(x, alice, channel, 'own-device');
    const result = await carol.docs.update(channel, (doc) => A.merge(A.clone(doc), alice.docs.get(channel)), { trust: 'contact', peer: alice.deviceId });
    expect(result.accepted).toBe(false);
    expect(result.problems.join()).toMatch(/not written by the peer/);
    expect(toHex(key)).toBe(carol.contacts()[0]!.channels[1]);
  });
});

describe('a card keeps a bounded number of keys', () => {
  it('rotation after rotation: the card keeps the newest CONTACT_KEYS, on both sides', async () => {
    const [alice, carol] = await Promise.all([open(), open()]);
    const key = cryptoRandomBytes(32);
    await alice.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    const keys = [toHex(key)];
    for (let i = 0; i < 5; i++) {
      const channel = alice.channelOf(alice.contacts()[0]!);
      await rotateKeys(alice, cryptoRandomBytes, alice.now() + i);
      keys.unshift(alice.contacts()[0]!.channels[0]!);
      await pass(alice, carol, channel, 'contact');
      await adoptRekeys(carol);
    }
    expect(keys).toHaveLength(6);
    expect(alice.contacts()[0]!.channels).toHaveLength(3);
    expect(alice.contacts()[0]!.channels).toEqual(keys.slice(0, CONTACT_KEYS));
    expect(carol.contacts()[0]!.channels).toEqual(keys.slice(0, CONTACT_KEYS));
  });
});

describe("a contact's set across rotations while it is away", () => {
  it('two statements of one signer with the same `at` in two channels: the rotation carries the one the card trusts', async () => {
    const [alice, carol, carol2, carol3] = await Promise.all([open(), open(), open(), open()]);
    const key = cryptoRandomBytes(32);
    await alice.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await rotateKeys(alice, cryptoRandomBytes, alice.now());
    const [newer, older] = alice.channelsOf(alice.contacts()[0]!);
    // Carol's set at one `at`, twice (Carol3 linked between): one in each channel of the card.
    const at = alice.now() + 1;
    await carol.addOwnDevices([me(carol2)]);
    const first = carol.deviceSetStatement(at);
    await carol.addOwnDevices([me(carol3)]);
    const second = carol.deviceSetStatement(at);
    const write = (channel: DocId, notice: string) =>
      alice.docs.change<{ messages: unknown[] }>(channel, (c) => {
        c.messages.push({ id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: carol.deviceId, text: '', notice });
      });
    await write(older!, deviceSetNotice(first));
    await write(newer!, deviceSetNotice(second));
    const trusted = alice.provenStatements(alice.contacts()[0]!);
    expect(trusted.map((s) => s.signature)).toHaveLength(1);
    const devicesOf = (s: { devices: { device_id: string }[] }) => s.devices.map((d) => d.device_id).sort();
    const carried = devicesOf(trusted[0]!);
    expect(alice.provenSet(alice.contacts()[0]!).devices.size).toBe(carried.length);

    await rotateKeys(alice, cryptoRandomBytes, alice.now() + 2);
    const moved = alice.channelOf(alice.contacts()[0]!);
    const carols = alice
      .messages(moved)
      .map((m) => (m.notice ? (JSON.parse(m.notice) as { set?: DeviceSetStatement }).set : undefined))
      .filter((s): s is DeviceSetStatement => s?.by === carol.publicKey);
    expect(carols.map(devicesOf)).toEqual([carried]);
    expect(devicesOf(alice.provenStatements(alice.contacts()[0]!)[0]!)).toEqual(carried);
  });

  it("after CONTACT_KEYS rotations the card still proves the contact's set: its other device follows and is taken", async () => {
    const [alice, carol, carol2] = await Promise.all([open(), open(), open()]);
    const key = cryptoRandomBytes(32);
    const channel = documentId(key);
    await carol.addOwnDevices([me(carol2)]);
    await carol2.addOwnDevices([me(carol)], carol.setKey());
    await alice.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    for (const d of [carol, carol2]) await d.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    // Carol's set (naming Carol2) is in K only: Alice's card trusts Carol2 through it.
    await carol.sendMessage(channel, { notice: deviceSetNotice(carol.deviceSetStatement()) });
    await pass(carol, alice, channel, 'contact');
    expect(alice.provenSet(alice.contacts()[0]!).keys.has(carol2.publicKey)).toBe(true);

    // Carol's devices are away for CONTACT_KEYS + 1 rotations: K drops off Alice's card.
    const written: DocId[] = [channel];
    for (let i = 1; i <= CONTACT_KEYS + 1; i++) {
      await rotateKeys(alice, cryptoRandomBytes, alice.now() + i);
      written.unshift(alice.channelOf(alice.contacts()[0]!));
    }
    const card = alice.contacts()[0]!;
    expect(alice.channelsOf(card)).not.toContain(channel);
    expect(alice.provenSet(card).keys.has(carol2.publicKey)).toBe(true);

    // Carol2 back: it follows the chain from K (the last rotation sealed to it too) and writes in the channel Alice is on.
    for (const id of written.slice(1).reverse()) {
      await pass(alice, carol2, id, 'contact');
      await adoptRekeys(carol2);
    }
    expect(carol2.contacts()[0]!.channels[0]).toBe(card.channels[0]);
    const now = alice.channelOf(card);
    await carol2.sendMessage(now, { text: 'from Carol2, on the newest key' });
    await pass(carol2, alice, now, 'contact');
    expect(alice.messages(now).map((m) => m.text)).toContain('from Carol2, on the newest key');
  });
});

describe('an honest race', () => {
  it('the side whose key lost carries what it wrote under that key into the winning channel', async () => {
    const [alice, carol] = await Promise.all([open(), open()]);
    const key = cryptoRandomBytes(32);
    await alice.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    const channel = documentId(key);
    // Both rotate K at once; Carol's is the later, so it wins. Alice writes under her key meanwhile.
    await rotateKeys(alice, cryptoRandomBytes, 1_000);
    await rotateKeys(carol, cryptoRandomBytes, 2_000);
    const card = alice.contacts()[0]!;
    await alice.sendMessage(alice.channelOf(card), { text: 'from Alice, under the losing key' });
    await pass(alice, carol, channel, 'contact');
    await pass(carol, alice, channel, 'contact');
    for (const d of [alice, carol]) if (rekeyWaiting(d)) await adoptRekeys(d, cryptoRandomBytes);
    const won = carol.contacts()[0]!.channels;
    expect(alice.contacts()[0]!.channels).toEqual(won);
    await pass(alice, carol, carol.channelOf(carol.contacts()[0]!), 'contact');
    expect(carol.messagesOf(carol.contacts()[0]!).map((m) => m.text)).toContain('from Alice, under the losing key');
    expect(alice.messagesOf(alice.contacts()[0]!).filter((m) => m.text === 'from Alice, under the losing key')).toHaveLength(1);
    // Taken in again (a crash before the move was saved): nothing is repeated.
    expect(await alice.carryMessages(documentId(Buffer.from(card.channels[0]!, 'hex')), alice.channelOf(alice.contacts()[0]!))).toBe(0);
  });
});

describe('both people rotate at once', () => {
  it("the winner's signer rotates again when its key reached a device the other side unlinked", async () => {
    const [alice, x, carol, y] = await Promise.all([open(), open(), open(), open()]);
    await alice.addOwnDevices([me(x)]);
    await x.addOwnDevices([me(alice)], alice.setKey());
    await carol.addOwnDevices([me(y)]);
    await y.addOwnDevices([me(carol)], carol.setKey());
    const key = cryptoRandomBytes(32);
    await alice.addContact({ moniker: 'Carol', contactKey: key, publicKey: carol.publicKey });
    await carol.addContact({ moniker: 'Alice', contactKey: key, publicKey: alice.publicKey });
    const channel = documentId(key);
    await alice.sendMessage(channel, { notice: deviceSetNotice(alice.deviceSetStatement()) });
    await carol.sendMessage(channel, { notice: deviceSetNotice(carol.deviceSetStatement()) });
    await pass(alice, carol, channel, 'contact');
    await pass(carol, alice, channel, 'contact');
    // Alice unlinks X while Carol unlinks Y: each seals to the other's set as it knew it.
    for (const [d, gone, at] of [
      [alice, x, alice.now()],
      [carol, y, alice.now() + 60_000],
    ] as const) {
      await d.sendMessage(d.selfChannel()!, { text: unlinkNotice(gone.deviceId) });
      await d.removeOwnDevice(gone.deviceId);
      await rotateKeys(d, cryptoRandomBytes, at);
    }
    for (let round = 0; round < 4; round++) {
      for (const [from, to] of [
        [alice, carol],
        [carol, alice],
      ] as const)
        for (const id of from.docs.openIds())
          if (from.docs.kindOf(id) === 'channel' && to.docs.has(id) && to.docs.kindOf(id) === 'channel') await pass(from, to, id, 'contact');
      for (const d of [alice, carol]) if (rekeyWaiting(d)) await adoptRekeys(d, cryptoRandomBytes);
    }
    for (const d of [alice, carol]) expect(rekeyWaiting(d)).toBe(false);
    const final = alice.contacts()[0]!.channels[0]!;
    expect(carol.contacts()[0]!.channels[0]).toBe(final);
    // Every notice that leads Alice to the key in use is sealed to Alice and Carol only.
    const leading = alice.docs
      .openIds()
      .filter((id) => alice.docs.kindOf(id) === 'channel')
      .flatMap((id) => alice.messages(id).map((m) => rekeyOf(m.notice) as RekeyNotice | undefined))
      .filter((n): n is RekeyNotice => n !== undefined && toHex(openRekey(n, alice.publicKey, (box) => alice.openSealed(box)) ?? new Uint8Array()) === final);
    expect(leading.length).toBeGreaterThan(0);
    for (const n of leading) expect(Object.keys(n.sealed).sort()).toEqual([alice.publicKey, carol.publicKey].sort());
  });
});
