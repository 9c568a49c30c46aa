/**
 * Who a deposit in our own channel lists as its readers, when someone hostile writes there: anyone
 * holding the set key (a device unlinked keeps it) can add `{"unlink": <id>}` notices in made-up
 * names, and a device of mine gone bad can sign them. Unlinked devices are listed by their bare tag
 * (anyone with the set key acks for them): were such ids to sort before my current devices under the
 * 16-reader cap, a thief could ack every listed reader itself and delete the deposit (the rotation's
 * notice) before my devices read it. So only notices that count name unlinked readers, and my current
 * devices come first under the cap.
 */
import * as A from '@automerge/automerge';
import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { prepareDeposit } from '../src/depot/depotActors.js';
import { ackPlan, depotKey, depotTag } from '../src/depot/payload.js';
import { MAX_DEPOSIT_READERS } from '../src/depot/wire.js';
import { unlinkNotice } from '../src/devices/selfLink.js';
import { toHex } from '../src/crypto/bytes.js';
import { depotDevice, prepareInput, type DepotDevice } from './helpers/depotDevice.js';

const KEY = new Uint8Array(32).fill(11);
const key = depotKey(KEY);

/** `n` device ids whose depot tags sort before every tag starting at '1' (a made-up id costs nothing to pick). */
function lowIds(n: number): string[] {
  const out: string[] = [];
  while (out.length < n) {
    const id = toHex(cryptoRandomBytes(16));
    if (depotTag(KEY, id) < '1') out.push(id);
  }
  return out;
}

/** A device whose tag sorts after every low id's: what the attack pushes out. */
async function honestDevice(): Promise<DepotDevice> {
  for (;;) {
    const d = await depotDevice(KEY);
    if (depotTag(KEY, d.db.deviceId) >= '1') return d;
  }
}

async function readersOf(d: DepotDevice): Promise<string[]> {
  await d.db.sendMessage(d.channelId, { text: 'to my other devices' });
  const input = prepareInput(d, key, { contactKey: KEY, own: true });
  const { deposits } = await toPromise(createActor(prepareDeposit, { input }).start());
  expect(deposits.length).toBeGreaterThan(0);
  return deposits[0]!.readers ?? [];
}

/** Bring `from`'s channel changes to `to`, checked as a peer's (`peer`: whose change it is). */
async function syncChannel(from: DepotDevice, to: DepotDevice, peer: string): Promise<void> {
  const changes = A.getChangesSince(from.db.docs.get(from.channelId), A.getHeads(to.db.docs.get(to.channelId)));
  const r = await to.db.docs.update(to.channelId, (doc) => A.applyChanges(doc, changes)[0], { trust: 'contact', peer });
  expect(r.accepted).toBe(true);
}

describe('own-channel readers against hostile unlink notices', () => {
  it('ackPlan: bare-tag devices (unlinked ones) never push a device with a key out of the 16 readers', () => {
    const fakes = lowIds(MAX_DEPOSIT_READERS);
    const honest = 'f'.repeat(32);
    const keys = new Map<string, string[]>(fakes.map((id) => [id, []]));
    keys.set(honest, [toHex(new Uint8Array(32).fill(9))]);
    const readers = ackPlan(KEY, keys)!.make(cryptoRandomBytes).readers;
    expect(readers).toHaveLength(MAX_DEPOSIT_READERS);
    expect(readers.some((r) => r.startsWith(`${depotTag(KEY, honest)}:`))).toBe(true);
    // And `later` ones after both: a current device listed by its bare tag (given without a key) stays too.
    const bare = 'e'.repeat(32);
    keys.set(bare, []);
    const withLater = ackPlan(KEY, keys, MAX_DEPOSIT_READERS, new Set(fakes))!.make(cryptoRandomBytes).readers;
    expect(withLater.slice(0, 2)).toEqual([expect.stringMatching(new RegExp(`^${depotTag(KEY, honest)}:`)), depotTag(KEY, bare)]);
  });

  it('16 unlink notices in made-up names (anyone with the set key) add no reader: my other device stays listed, with its token', async () => {
    const [me, other] = [await depotDevice(KEY), await honestDevice()];
    me.db.docs.setOwnDevices([{ device_id: other.db.deviceId, public_key: other.db.publicKey }]);
    const channel = me.channelId;
    for (const id of lowIds(MAX_DEPOSIT_READERS)) {
      // Written as that made-up device (unsigned: no proven set names it, so the store takes it, unverified).
      const r = await me.db.docs.update(
        channel,
        (doc) =>
          A.change(doc as A.Doc<{ messages: unknown[] }>, (d) => {
            d.messages.push({ id: toHex(cryptoRandomBytes(16)), timestamp: 1, sender: id, text: unlinkNotice(id) });
          }),
        { trust: 'contact', peer: id },
      );
      expect(r.accepted).toBe(true);
    }
    const readers = await readersOf(me);
    expect(readers).toEqual([expect.stringMatching(new RegExp(`^${depotTag(KEY, other.db.deviceId)}:[0-9a-f]{32}$`))]);
  });

  it('a device of mine gone bad signs 16 unlinks of made-up ids: my honest devices still come first, each with its token', async () => {
    const [me, thief, honest] = [await depotDevice(KEY), await depotDevice(KEY), await honestDevice()];
    const all = [me, thief, honest];
    for (const d of all) d.db.docs.setOwnDevices(all.filter((o) => o !== d).map((o) => ({ device_id: o.db.deviceId, public_key: o.db.publicKey })));
    const fakes = lowIds(MAX_DEPOSIT_READERS);
    for (const id of fakes) await thief.db.sendMessage(thief.channelId, { text: unlinkNotice(id) });
    await syncChannel(thief, me, thief.db.deviceId);
    const readers = await readersOf(me);
    expect(readers).toHaveLength(MAX_DEPOSIT_READERS);
    for (const d of [thief, honest]) expect(readers).toContainEqual(expect.stringMatching(new RegExp(`^${depotTag(KEY, d.db.deviceId)}:[0-9a-f]{32}$`)));
    // The rest: made-up ids by their bare tags (the thief's notices verify: it is still one of mine).
    expect(readers.slice(2).every((r) => fakes.some((id) => depotTag(KEY, id) === r))).toBe(true);
  });

  it('an unlink that counts still lists the unlinked device by its bare tag (it must read the notice), after it was forgotten', async () => {
    const [me, gone] = [await depotDevice(KEY), await honestDevice()];
    const other = await depotDevice(KEY);
    me.db.docs.setOwnDevices([{ device_id: other.db.deviceId, public_key: other.db.publicKey }]); // `gone` forgotten already
    await me.db.sendMessage(me.channelId, { text: unlinkNotice(gone.db.deviceId) });
    const readers = await readersOf(me);
    expect(readers).toHaveLength(2);
    expect(readers).toContain(depotTag(KEY, gone.db.deviceId));
    expect(readers).toContainEqual(expect.stringMatching(new RegExp(`^${depotTag(KEY, other.db.deviceId)}:`)));
  });
});
