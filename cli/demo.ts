/**
 * The README's main job: a relay on localhost with its default in-memory store, and two peers, Alice
 * and Bob, pairing through it with a code. Prints the code and the verifier each side computed.
 * @module
 */
import { startRelay } from '../server/relay.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { constantTimeEqual } from '../src/crypto/bytes.js';
import { createPairing } from '../src/pair.js';

export async function runDemo(options: { port?: number; print?: (line: string) => void } = {}): Promise<void> {
  const print = options.print ?? console.log;
  const relay = await startRelay({ port: options.port ?? 0 });
  print(`relay: ${relay.url}`);
  try {
    const connector = nodeSocketConnector();
    const alice = createPairing({ relay: relay.url, connector });
    const bob = createPairing({ relay: relay.url, connector });
    const invitation = await alice.invite();
    print(`alice: invite code ${invitation.code}`);
    print(`bob:   typing ${invitation.code}`);
    const [a, b] = await Promise.all([invitation.done, bob.accept(invitation.code)]);
    print(`alice: verifier ${a.verifier}`);
    print(`bob:   verifier ${b.verifier}`);
    const same = constantTimeEqual(a.contactKey, b.contactKey);
    print(same ? 'both sides hold the same contact key: paired' : 'MISMATCH: the contact keys differ');
    if (!same) throw new Error('demo failed: contact keys differ');
  } finally {
    await relay.close();
  }
}
