/** The machines are watchable through @statelyai/inspect, and nothing secret reaches the inspector. */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { toHex } from '../src/crypto/bytes.js';
import { createPairing } from '../src/pair.js';

describe('inspection', () => {
  it('streams every state of the pairing to a Stately inspector, with keys and codes redacted', async () => {
    const relay = await startRelay();
    try {
      const events: StatelyInspectionEvent[] = [];
      const inspector = createInspector({ send: (e) => events.push(e) });
      const connector = nodeSocketConnector();
      const alice = createPairing({ relay: relay.url, connector, inspect: inspector.inspect });
      const bob = createPairing({ relay: relay.url, connector });
      const invitation = await alice.invite();
      const [a] = await Promise.all([invitation.done, bob.accept(invitation.code)]);
      const snapshots = events.filter((e) => e.type === '@xstate.snapshot');
      expect(snapshots.length).toBeGreaterThan(5);
      // The wormhole machine's snapshots (its socket child reports snapshots without a value).
      const values = snapshots
        .map((e) => (e as unknown as { snapshot: { value?: unknown } }).snapshot.value)
        .filter((v) => v !== undefined)
        .map((v) => JSON.stringify(v));
      expect(values.some((v) => v.includes('"key":"verified"'))).toBe(true);
      const all = JSON.stringify(events);
      // The password is the words together; single words can be ordinary tokens ("snapshot" is a PGP word).
      const [, w1, w2] = invitation.code.split('-');
      expect(all).not.toContain(`${w1}-${w2}`);
      expect(all).not.toContain(`"${w1}","${w2}"`);
      expect(all).not.toContain(toHex(a.contactKey));
      expect(all).toContain('[redacted key]');
    } finally {
      await relay.close();
    }
  });
});
