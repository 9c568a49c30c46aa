/** An unlinked device that ignores its notice: the app machine alone on its storage, without the façade that would wipe it or follow a rotation. */
import { createActor, waitFor, type Actor } from 'xstate';
import type { MemoryStorage } from '../../src/adapters/memoryStorage.js';
import { nodeSocketConnector } from '../../src/adapters/nodeSocket.js';
import { backchannelApp } from '../../src/app/actors.js';
import { cryptoRandomBytes } from '../../src/effects/random.js';
import { BACKCHANNEL_APPID } from '../../src/wormhole/appid.js';

export async function hostileDevice(storage: MemoryStorage, relay: string): Promise<Actor<typeof backchannelApp>> {
  const actor = createActor(backchannelApp, {
    input: { storage, connector: nodeSocketConnector(), randomBytes: cryptoRandomBytes, appid: BACKCHANNEL_APPID, relay, journal: undefined },
  });
  actor.start();
  await waitFor(actor, (s) => !s.matches('starting'));
  return actor;
}
