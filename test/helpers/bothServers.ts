/** Both mailbox servers for a test file: the real Python one and ours, started before and stopped after. */
import { afterAll, beforeAll } from 'vitest';
import { startRelay, type Relay } from '../../server/index.js';
import { startPythonMailbox, type PythonMailbox } from './processes.js';

export interface BothServers {
  python: PythonMailbox;
  ours: Relay;
}

/** Registers beforeAll/afterAll hooks; read the servers from the returned object inside tests. */
export function useBothServers(): BothServers {
  const servers = {} as BothServers;
  beforeAll(async () => {
    [servers.python, servers.ours] = await Promise.all([startPythonMailbox(), startRelay()]);
  });
  afterAll(async () => {
    await Promise.all([servers.python?.close(), servers.ours?.close()]);
  });
  return servers;
}
