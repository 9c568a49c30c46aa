/**
 * Presence that lasts, between device processes on a relay process: Alice's card for Bob records
 * Bob's device key (exchanged inside the encrypted pairing) and `last_seen` on Alice's own clock (set
 * far ahead here, so a time from anywhere else would show), written when Bob's device connects,
 * sends and goes; `presence` lines carry it; it is still there after Alice restarts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Device, pairDevices } from './helpers/device.js';
import { startRelayProcess } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-presence-');
const children: { kill(): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  dirs.removeAll();
});

/** Alice's clock runs this far ahead of the system's. */
const SKEW = 1_000_000_000_000;
const aliceEnv = { BC_CLOCK_SKEW_MS: String(SKEW) };

async function card(device: Device, id: string): Promise<{ last_seen?: number; public_key?: string }> {
  device.lines.splice(0);
  device.tell(`card ${id}`);
  const [, json] = await device.wait(/^card (.*)$/);
  return JSON.parse(json!) as { last_seen?: number; public_key?: string };
}

describe('presence that lasts, between processes', () => {
  it('last_seen on our clock when the contact connects, sends and goes; kept across a restart; the card has their device key', async () => {
    const relay = await startRelayProcess([]);
    children.push(relay.running.child);
    const aliceDir = dirs.make();
    let alice = new Device(aliceDir, relay.url, children, aliceEnv);
    const bob = new Device(dirs.make(), relay.url, children);
    await Promise.all([alice.wait(/^ready$/), bob.wait(/^ready$/)]);
    bob.tell('whoami');
    const [, bobKey] = await bob.wait(/^me (\S+)$/);
    alice.tell('whoami');
    const [, aliceKey] = await alice.wait(/^me (\S+)$/);
    expect(bobKey).toMatch(/^[0-9a-f]{64}$/);

    const { inviteeId: bobId, inviterId: aliceId } = await pairDevices(alice, bob);
    expect((await card(alice, bobId)).public_key).toBe(bobKey);
    expect((await card(bob, aliceId)).public_key).toBe(aliceKey);

    // Bob's device connects: the presence line carries the last_seen just written, on Alice's clock.
    const [, , connectedAt] = await alice.wait(new RegExp(`^presence ${bobId} (direct|relayed) (\\d+)$`), 30_000);
    const t1 = Number(connectedAt);
    const ahead = Date.now() + SKEW / 2; // any time on Alice's clock is past this, any on the system's before it
    expect(t1).toBeGreaterThan(ahead);
    expect((await card(alice, bobId)).last_seen).toBeGreaterThanOrEqual(t1);
    // Bob's own card for Alice is on Bob's clock (no skew).
    const bobsView = await card(bob, aliceId);
    if (bobsView.last_seen !== undefined) expect(bobsView.last_seen).toBeLessThan(ahead);

    // Bob sends: once the message is in, Alice's card for him changes with a later last_seen.
    const before = (await card(alice, bobId)).last_seen!;
    alice.lines.splice(0);
    bob.tell(`send ${aliceId} are you there`);
    await alice.wait(/^message are you there$/, 30_000);
    const [, seenAt] = await alice.wait(new RegExp(`^contact ${bobId} (\\d+)$`), 30_000);
    const afterSend = Number(seenAt);
    expect(afterSend).toBeGreaterThan(before);
    expect((await card(alice, bobId)).last_seen).toBeGreaterThanOrEqual(afterSend);

    // Bob goes: the offline line carries the time he was last seen.
    alice.lines.splice(0);
    await bob.quit();
    const [, goneAt] = await alice.wait(new RegExp(`^presence ${bobId} offline (\\d+)$`), 60_000);
    expect(Number(goneAt)).toBeGreaterThanOrEqual(afterSend);

    // Alice restarts: the card still has it.
    await alice.quit();
    alice = new Device(aliceDir, relay.url, children, aliceEnv);
    await alice.wait(/^ready$/);
    const kept = await card(alice, bobId);
    expect(kept.last_seen).toBe(Number(goneAt));
    expect(kept.public_key).toBe(bobKey);
    await alice.quit();
    await relay.stop();
  }, 180_000);
});
