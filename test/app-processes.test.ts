/**
 * Alice and Bob as two Node processes on a relay process: pair → messages both ways → Bob goes
 * offline → Alice sends one message → the relay restarts (its depot on disk) → Alice sends
 * two more and goes offline too → Bob comes back and receives all three, once each, in order, from the
 * relay's mailbox alone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Device, pairDevices } from './helpers/device.js';
import { startRelayProcess } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-proc-');
const temp = dirs.make;
const children: { kill(): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  dirs.removeAll();
});

describe('Alice and Bob as processes', () => {
  it('pair, talk, survive Bob offline and a relay restart: three messages, once each, in order', async () => {
    const relayData = temp();
    let relay = await startRelayProcess(['--data', relayData]);
    children.push(relay.running.child);
    const relayUrl = relay.url;
    const aliceDir = temp();
    const bobDir = temp();
    let alice = new Device(aliceDir, relayUrl, children);
    let bob = new Device(bobDir, relayUrl, children);
    await Promise.all([alice.wait(/^ready$/), bob.wait(/^ready$/)]);

    const { inviteeId: bobId, inviterId: aliceId, verifiers } = await pairDevices(alice, bob);
    expect(verifiers[0]).toBe(verifiers[1]);

    alice.tell(`send ${bobId} hello bob`);
    await bob.wait(/^message hello bob$/);
    bob.tell(`send ${aliceId} hello alice`);
    await alice.wait(/^message hello alice$/);

    await bob.quit(); // Bob goes offline
    alice.tell(`send ${bobId} one`);
    await alice.wait(/^deposited one$/); // the relay acknowledged it: stored
    alice.lines.splice(0);

    await relay.stop(); // the relay restarts; "one" waits on its disk
    relay = await startRelayProcess(['--data', relayData], { port: relay.port });
    children.push(relay.running.child);
    // Sent after the restart: Alice's mailbox client must have reconnected by itself.
    for (const text of ['two', 'three']) {
      alice.tell(`send ${bobId} ${text}`);
      await alice.wait(/^sent /);
    }
    await alice.wait(/^deposited three$/, 30_000);
    await alice.quit(); // and now Alice is gone too: only the relay's mailbox can deliver

    bob = new Device(bobDir, relayUrl, children);
    await bob.wait(/^message three$/, 30_000);
    // A sentinel: Alice comes back and sends one more. Once it is in, anything that could still have
    // arrived (a duplicate, a deposit applied twice) would be there too.
    alice = new Device(aliceDir, relayUrl, children);
    await alice.wait(/^ready$/);
    alice.tell(`send ${bobId} sentinel`);
    await bob.wait(/^message sentinel$/, 30_000);
    const got = bob.lines.filter((l) => l.startsWith('message ')).map((l) => l.slice(8));
    expect(got).toEqual(['one', 'two', 'three', 'sentinel']);
    await alice.quit();
    await bob.quit();
    await relay.stop();
  }, 120_000);
});
