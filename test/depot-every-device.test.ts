/**
 * Issue #12: every device of a contact gets what I left while it was away. Bob has two devices, both
 * away; Alice writes. Her deposit lists both of Bob's devices as readers (opaque tags); Bob's first
 * device comes back, reads and acknowledges it, and goes; the relay keeps it for the second, which
 * comes back later (Alice away too, so only the depot can tell it) and still gets it. Then it is gone.
 * (Bob's first device deposits for Alice while she is away: those deposits are its own, left alone.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel, type PairedContact } from '../src/app/backchannel.js';
import { fromHex } from '../src/crypto/bytes.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { depotTag } from '../src/depot/payload.js';
import { eventsOf } from './helpers/events.js';
import { until } from './helpers/wait.js';

let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay?.close();
});

const open = (storage = new MemoryStorage()) => createBackchannel({ storage, connector: nodeSocketConnector(), relay: relay.url });

async function pairUp(alice: Backchannel, bob: Backchannel): Promise<[bobOnAlice: PairedContact, aliceOnBob: PairedContact]> {
  const { code, done } = await alice.invite({ moniker: 'Bob' });
  return Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
}

async function linkUp(approver: Backchannel, joiner: Backchannel): Promise<void> {
  const link = await approver.linkDevice();
  await Promise.all([link.done, joiner.acceptLink(link.code)]);
}

describe('the depot keeps a deposit for every device of the contact', () => {
  it("Bob's second device gets what his first device already read and acknowledged", async () => {
    const [bob1Storage, bob2Storage] = [new MemoryStorage(), new MemoryStorage()];
    const opened: Backchannel[] = [];
    const track = async (p: Promise<Backchannel>) => {
      const bc = await p;
      opened.push(bc);
      return bc;
    };
    try {
      const [alice, bob1, bob2] = await Promise.all([track(open()), track(open(bob1Storage)), track(open(bob2Storage))]);
      const [bobOnAlice, aliceOnBob] = await pairUp(alice, bob1);
      await linkUp(bob1, bob2);
      // Alice learns Bob's set (the notices travel before each device's next message).
      await bob1.send(aliceOnBob.id, { text: 'from my phone' });
      await bob2.send(bob2.contacts()[0]!.id, { text: 'from my laptop' });
      await until(() => ['from my phone', 'from my laptop'].every((t) => alice.messages(bobOnAlice.id).some((m) => m.text === t)), 30_000);

      const contactKey = fromHex(bobOnAlice.channels[0]!);
      const { topic } = topicKey(contactKey);
      const [tag1, tag2, aliceTag] = [depotTag(contactKey, bob1.deviceId), depotTag(contactKey, bob2.deviceId), depotTag(contactKey, alice.deviceId)];
      // Alice's deposits the relay would list to the device tagged `tag` (or to anyone): its ids carry her tag.
      const waitingFor = async (tag?: string) => (await relay.depot.fetch(topic, undefined, tag)).items.filter((d) => d.id.includes(aliceTag)).length;

      // Both of Bob's devices go away; Alice writes, and her depot client deposits it.
      await Promise.all([bob1.close(), bob2.close()]);
      const deposited = eventsOf(alice, 'deposited');
      await alice.send(bobOnAlice.id, { text: 'while you were both away' });
      await deposited.next((e) => e.contactId === bobOnAlice.id && e.upTo?.text === 'while you were both away');
      expect(await waitingFor(tag1)).toBeGreaterThan(0);
      expect(await waitingFor(tag2)).toBeGreaterThan(0);
      // Alice goes too: from now on only the relay's depot can bring it.
      await alice.close();

      // Bob's first device comes back, reads it, acknowledges it; the relay keeps it for the second.
      const back1 = await track(open(bob1Storage));
      await until(() => back1.messages(aliceOnBob.id).some((m) => m.text === 'while you were both away'), 30_000);
      await until(async () => (await waitingFor(tag1)) === 0, 30_000);
      expect(await waitingFor(tag2)).toBeGreaterThan(0);
      await back1.close();

      // Bob's second device comes back later and still gets it; then nothing is left on the relay.
      const back2 = await track(open(bob2Storage));
      const aliceOnBob2 = back2.contacts()[0]!;
      await until(() => back2.messages(aliceOnBob2.id).some((m) => m.text === 'while you were both away'), 30_000);
      await until(async () => (await waitingFor(tag2)) === 0, 30_000);
      expect(await waitingFor()).toBe(0);
    } finally {
      await Promise.all(opened.map((bc) => bc.close()));
    }
  }, 120_000);
});
