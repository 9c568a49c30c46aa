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
import { relayCheck, type RelayChecked } from '../src/app/relayCheck.js';
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
async function check(relay: string, connector: SocketConnector): Promise<RelayChecked> {
  const parent = createActor(
    setup({ actors: { relayCheck } }).createMachine({
      context: {} as { checked?: RelayChecked },
      invoke: { src: 'relayCheck', input: { relay, connector } },
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
});
