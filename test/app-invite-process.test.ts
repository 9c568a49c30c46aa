/**
 * An invite that renews its code, between two device processes on a relay process: Alice's invite
 * shows a code, then another one; Bob typing the first fails with CodeExpiredError (its nameplate was
 * released: he finds nobody in the mailbox), typing the current one pairs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Device } from './helpers/device.js';
import { startRelayProcess } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-invite-');
const children: { kill(): void }[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  dirs.removeAll();
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('an invite with a lifetime, between processes', () => {
  it('a renewed code replaces the old one: the old fails CODE_EXPIRED on the other side, the new one pairs', async () => {
    const relay = await startRelayProcess([]);
    children.push(relay.running.child);
    const alice = new Device(dirs.make(), relay.url, children);
    const bob = new Device(dirs.make(), relay.url, children);
    await Promise.all([alice.wait(/^ready$/), bob.wait(/^ready$/)]);

    // Long enough for Bob to type the current code before it is renewed again, on a loaded machine.
    alice.tell('invite Bob 8000');
    const [, first] = await alice.wait(/^code (\S+)$/);
    const [, second] = await alice.wait(new RegExp(`^code (?!${escape(first!)}$)(\\S+)$`), 30_000);
    expect(second!.split('-')[0]).not.toBe(first!.split('-')[0]); // the relay does not hand the old nameplate out again at once

    bob.tell(`accept ${first} Alice`);
    const [line] = await bob.wait(/^error .*$/);
    expect(line).toMatch(/^error CODE_EXPIRED /);

    bob.tell(`accept ${second} Alice`);
    const [, , v1] = await alice.wait(/^paired (\S+) (\S+)$/);
    const [, , v2] = await bob.wait(/^paired (\S+) (\S+)$/);
    expect(v1).toBe(v2);
    await Promise.all([alice.quit(), bob.quit()]);
    await relay.stop();
  }, 120_000);
});
