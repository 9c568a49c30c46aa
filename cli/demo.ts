/**
 * The README's main job: a relay on localhost with its embedded default store, and two devices, Alice
 * and Bob, each with their own storage: they pair with a code, chat both ways, then Bob goes offline,
 * Alice writes, the relay restarts, Alice leaves too, and Bob comes back to every message, in order.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from '../server/relay.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import type { Message } from '../src/db/schema.js';

/** Resolves with the next `count` incoming messages. */
function incoming(bc: Backchannel, count: number): Promise<Message[]> {
  const got: Message[] = [];
  return new Promise((resolve) => {
    const off = bc.subscribe((e) => {
      if (e.type === 'message' && e.incoming && got.push(e.message) === count) {
        off();
        resolve(got);
      }
    });
  });
}

export async function runDemo(options: { port?: number; print?: (line: string) => void } = {}): Promise<void> {
  const print = options.print ?? console.log;
  const tmp = (name: string) => mkdtempSync(join(tmpdir(), `backchannel-${name}-`));
  const [aliceDir, bobDir, relayDir] = [tmp('alice'), tmp('bob'), tmp('relay')];
  // The relay's embedded default store: its depot on disk, so a restart loses nothing.
  let relay = await startRelay({ port: options.port ?? 0, dataDir: relayDir });
  const port = relay.port;
  print(`relay: ${relay.url} (depot kept in ${relayDir})`);
  const open = (dir: string) => createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url });
  try {
    const alice = await open(aliceDir);
    let bob = await open(bobDir);
    const { code, done } = await alice.invite({ moniker: 'Bob' });
    print(`alice: invite code ${code}`);
    print(`bob:   typing ${code}`);
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
    print(`alice: paired with ${bobOnAlice.moniker}, verifier ${bobOnAlice.verifier}`);
    print(`bob:   paired with ${aliceOnBob.moniker}, verifier ${aliceOnBob.verifier}`);
    if (bobOnAlice.verifier !== aliceOnBob.verifier) throw new Error('demo failed: the verifiers differ');

    const atBob = incoming(bob, 1);
    await alice.send(bobOnAlice.id, { text: 'Hi Bob! Sealed end to end; the relay only forwards.' });
    print(`bob:   received "${(await atBob)[0]!.text}"`);
    const atAlice = incoming(alice, 1);
    await bob.send(aliceOnBob.id, { text: 'Hi Alice, got it.' });
    print(`alice: received "${(await atAlice)[0]!.text}"`);
    print(`alice: Bob is connected (${alice.presence(bobOnAlice.id) ?? 'not yet'})`);

    // Bob goes offline; what Alice writes now waits, sealed, in the relay's depot.
    await bob.close();
    print('bob:   offline');
    const offline = ['Are you there?', 'I will keep writing; you will get these when you are back.'];
    const stored = new Promise<void>((resolve) => alice.subscribe((e) => e.type === 'deposited' && e.upTo?.text === offline.at(-1) && resolve()));
    for (const text of offline) {
      await alice.send(bobOnAlice.id, { text });
      print(`alice: sent "${text}"`);
    }
    await stored;
    print(`relay: holds ${await relay.depot.count()} sealed deposit(s) for Bob, up to Alice's last message (it cannot read them)`);
    await relay.close();
    relay = await startRelay({ port, dataDir: relayDir });
    print('relay: restarted; the deposits were on disk');
    await alice.close();
    print('alice: offline too');

    bob = await open(bobDir);
    const back = await incoming(bob, offline.length);
    for (const m of back) print(`bob:   back online, received "${m.text}"`);
    if (back.map((m) => m.text).join('|') !== offline.join('|')) throw new Error('demo failed: messages lost or out of order');
    await bob.close();
    print('paired, chatted, and nothing was lost while Bob was away: done');
  } finally {
    await relay.close();
    for (const d of [aliceDir, bobDir, relayDir]) rmSync(d, { recursive: true, force: true });
  }
}
