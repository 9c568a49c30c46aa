/**
 * A relay that cannot sync: the real magic-wormhole mailbox server (Python, on 127.0.0.1) pairs two
 * Backchannels, and then says so — `relayStatus` becomes `unsupported` with a RelayUnsupportedError
 * that tells the host what to run instead. Node sees the refused upgrade's HTTP status; a browser
 * does not, and the check still decides from the mailbox answering while DISCOVER does not.
 */
import { assign, createActor, setup, waitFor } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { createBackchannel, type Backchannel } from '../src/app/backchannel.js';
import { relayCheck, type RelayChecked, type RelayCheckVia } from '../src/app/relayCheck.js';
import { RelayMux } from '../src/discover/relayMux.js';
import { discoveryUrlOf } from '../src/machines/appInputs.js';
import { RelayUnsupportedError } from '../src/errors.js';
import type { SocketConnector } from '../src/effects/socket.js';
import { startPythonMailbox, type PythonMailbox } from './helpers/processes.js';

let python: PythonMailbox;
let ours: Relay;
beforeAll(async () => {
  [python, ours] = await Promise.all([startPythonMailbox(), startRelay()]);
});
afterAll(async () => {
  await Promise.all([python?.close(), ours?.close()]);
});

/** What a browser's WebSocket reports: no HTTP status on a refused upgrade. */
function withoutStatus(connector: SocketConnector): SocketConnector {
  return (url, handlers) => connector(url, { ...handlers, onClose: ({ status: _status, ...info }) => handlers.onClose(info) });
}

function unsupported(bc: Backchannel): Promise<RelayUnsupportedError> {
  return new Promise((resolve) => {
    if (bc.relayError) return resolve(bc.relayError);
    const off = bc.subscribe((e) => e.type === 'relay' && e.status === 'unsupported' && (off(), resolve(e.error!)));
  });
}

/** Run the relay check under a small parent machine until it decides. */
async function check(relay: string, connector: SocketConnector, via: Partial<RelayCheckVia> = {}): Promise<RelayChecked> {
  const parent = createActor(
    setup({ actors: { relayCheck } }).createMachine({
      context: {} as { checked?: RelayChecked },
      invoke: { src: 'relayCheck', input: { relay, connector, ...via } },
      on: { 'relay.checked': { target: '.done', actions: assign({ checked: ({ event }) => event as RelayChecked }) } },
      initial: 'checking',
      states: { checking: {}, done: { type: 'final' } },
    }),
  );
  parent.start();
  const snapshot = await waitFor(parent, (s) => s.status === 'done', { timeout: 20_000 });
  return snapshot.context.checked!;
}

describe('a relay that only speaks magic-wormhole pairing', () => {
  it('pairs through the Python mailbox server, then reports relay "unsupported" with a typed error', async () => {
    const open = () => createBackchannel({ storage: new MemoryStorage(), connector: nodeSocketConnector(), relay: python.url, journal: false });
    const [alice, bob] = await Promise.all([open(), open()]);
    try {
      const { code, done } = await alice.invite({ moniker: 'Bob' });
      const [bobOnAlice, aliceOnBob] = await Promise.all([done, bob.accept(code, { moniker: 'Alice' })]);
      expect(bobOnAlice.verifier).toBe(aliceOnBob.verifier);

      const error = await unsupported(alice);
      expect(error).toBeInstanceOf(RelayUnsupportedError);
      expect(error.code).toBe('RELAY_UNSUPPORTED');
      expect(error.message).toContain('backchannel relay');
      expect(error.data).toMatchObject({ relay: python.url, detail: expect.stringMatching(/HTTP 4\d\d/) });
      expect(alice.relayStatus).toBe('unsupported');
      expect(alice.getSnapshot().relay).toBe('unsupported');
      expect(alice.relayError).toBe(error);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });

  it('without the HTTP status (as in a browser): DISCOVER closes before any frame while /v1 answers → unsupported', async () => {
    const checked = await check(python.url, withoutStatus(nodeSocketConnector()));
    expect(checked.unsupported).toBeInstanceOf(RelayUnsupportedError);
    expect(checked.unsupported!.data.detail).toMatch(/closed before any frame 2 times/);
  });

  it('our relay answers DISCOVER: supported', async () => {
    expect((await check(ours.url, nodeSocketConnector())).unsupported).toBeUndefined();
    expect((await check(ours.url, withoutStatus(nodeSocketConnector()))).unsupported).toBeUndefined();
  });

  it('with the device’s multiplexed connection given, the check goes through it and opens no socket of its own', async () => {
    const dialled: string[] = [];
    const raw = nodeSocketConnector();
    const counting: SocketConnector = (url, handlers) => (dialled.push(url), raw(url, handlers));
    const mux = new RelayMux(counting);
    // A contact's session already holds the connection (it got the relay's challenge).
    let challenged!: () => void;
    const contactReady = new Promise<void>((r) => (challenged = r));
    const contact = mux.connector(discoveryUrlOf(ours.url), {
      onOpen: () => {},
      onMessage: (text) => text.includes('"challenge"') && challenged(),
      onClose: () => {},
    });
    await contactReady;
    try {
      expect((await check(ours.url, counting, { discoverConnector: mux.connector })).unsupported).toBeUndefined();
      expect(dialled).toEqual([discoveryUrlOf(ours.url)]); // the mux's one socket, nothing beside it
      expect(mux.connections).toBe(1); // and the check's leaving did not close it under the contact
    } finally {
      contact.close();
    }
  });
});
