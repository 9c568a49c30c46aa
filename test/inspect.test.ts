/**
 * The machines are watchable through @statelyai/inspect; nothing secret reaches the inspector, and
 * nothing the inspector gets can drive a machine (the app machine is the only owner of its actors).
 */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel } from '../src/app/backchannel.js';
import { toHex } from '../src/crypto/bytes.js';
import type { InspectedActor } from '../src/index.js';
import { createPairing } from '../src/pair.js';

/** Every actor reference an inspection event hands out: its actorRef, sourceRef and the children of its snapshots. */
function refsIn(events: InspectionEvent[]): Set<object> {
  const refs = new Set<object>();
  const add = (ref: unknown): void => {
    if (typeof ref !== 'object' || ref === null || refs.has(ref)) return;
    refs.add(ref);
    add((ref as { _parent?: unknown })._parent);
    const children = ((ref as { getSnapshot?: () => { children?: Record<string, unknown> } }).getSnapshot?.() ?? {}).children ?? {};
    for (const child of Object.values(children)) add(child);
  };
  for (const e of events) {
    add(e.actorRef);
    add((e as { sourceRef?: unknown }).sourceRef);
    for (const child of Object.values((e as { snapshot?: { children?: Record<string, unknown> } }).snapshot?.children ?? {})) add(child);
  }
  return refs;
}

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
      // The inspector built its actor tree from the read-only views: names, parents and snapshots.
      await new Promise((resolve) => setTimeout(resolve, 0)); // it converts events on a timer of its own
      const actors = events.filter((e) => e.type === '@xstate.actor') as unknown as { name: string; parentId?: string; sessionId: string; snapshot: unknown }[];
      const wormhole = actors.find((e) => e.name === 'wormhole');
      expect(wormhole?.snapshot).toBeDefined();
      expect(actors.some((e) => e.parentId === wormhole?.sessionId)).toBe(true); // its socket child
    } finally {
      await relay.close();
    }
  });

  it("hands a host's inspector read-only actors: nothing it receives can send an event to a machine", async () => {
    const relay = await startRelay();
    const events: InspectionEvent[] = [];
    const bc = await createBackchannel({ storage: new MemoryStorage(), connector: nodeSocketConnector(), relay: relay.url, inspect: (e) => events.push(e) });
    try {
      await bc.invite(); // a pairing machine and its wormhole child are running too
      const refs = refsIn(events);
      const ids = [...refs].map((r) => (r as { logic: { id?: string } }).logic.id); // the root's own id is its session id
      expect(ids).toContain('app');
      expect(ids).toContain('pairing');
      expect(ids).toContain('wormhole');
      expectTypeOf<InspectedActor>().not.toHaveProperty('send'); // and the public type says so
      const before = JSON.stringify(bc.getSnapshot().value);
      expect(bc.getSnapshot().matches({ ready: { network: 'online', pairing: 'inviting' } })).toBe(true);
      for (const ref of refs) {
        const r = ref as Record<string, unknown>;
        expect(
          ['send', 'start', 'stop', 'subscribe', 'system'].filter((k) => k in r),
          r.id as string,
        ).toEqual([]);
        expect(Object.isFrozen(r)).toBe(true);
        expect(() => Object.assign(r, { send: () => {} })).toThrow(TypeError);
      }
      // Nothing the host holds reaches the raw actor: the app is still online and still inviting.
      for (const ref of refs) {
        const r = ref as { send?: (e: unknown) => void; system?: { get(id: string): unknown } };
        r.send?.({ type: 'network.offline' });
        r.send?.({ type: 'pairing.cancel' });
      }
      expect(JSON.stringify(bc.getSnapshot().value)).toBe(before);
      expect(bc.online).toBe(true);
    } finally {
      await bc.close();
      await relay.close();
    }
  });
});
