/**
 * The README's main job: a relay on localhost with its default store, and two devices, Alice and Bob,
 * each with their own storage, that pair with a code and then sync a message each way.
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

function nextIncoming(bc: Backchannel): Promise<Message> {
  return new Promise((resolve) => {
    const off = bc.subscribe((e) => {
      if (e.type === 'message' && e.incoming) {
        off();
        resolve(e.message);
      }
    });
  });
}

export async function runDemo(options: { port?: number; print?: (line: string) => void } = {}): Promise<void> {
  const print = options.print ?? console.log;
  const relay = await startRelay({ port: options.port ?? 0 });
  const dirs = [mkdtempSync(join(tmpdir(), 'backchannel-alice-')), mkdtempSync(join(tmpdir(), 'backchannel-bob-'))];
  print(`relay: ${relay.url}`);
  try {
    const open = (dir: string) => createBackchannel({ storage: new NodeFsStorage(dir), connector: nodeSocketConnector(), relay: relay.url });
    const [alice, bob] = await Promise.all(dirs.map(open));
    const { code, done } = await alice!.invite({ moniker: 'Bob' });
    print(`alice: invite code ${code}`);
    print(`bob:   typing ${code}`);
    const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob!.accept(code, { moniker: 'Alice' })]);
    print(`alice: paired with ${bobOnAlice.moniker}, verifier ${bobOnAlice.verifier}`);
    print(`bob:   paired with ${aliceOnBob.moniker}, verifier ${aliceOnBob.verifier}`);
    if (bobOnAlice.verifier !== aliceOnBob.verifier) throw new Error('demo failed: the verifiers differ');

    const atBob = nextIncoming(bob!);
    await alice!.send(bobOnAlice.id, { text: 'Hi Bob! This went through our relay, sealed end to end.' });
    print(`bob:   received "${(await atBob).text}"`);
    const atAlice = nextIncoming(alice!);
    await bob!.send(aliceOnBob.id, { text: 'Hi Alice, got it.' });
    print(`alice: received "${(await atAlice).text}"`);
    await Promise.all([alice!.close(), bob!.close()]);
    print('paired and synced: done');
  } finally {
    await relay.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
