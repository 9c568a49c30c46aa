/**
 * A whole Backchannel relay in the page: the mailbox server, DISCOVER and the depot from
 * `@backchannel/sdk/server`, reached over `MemoryNetwork` (`@backchannel/sdk/testing`) — so stories run
 * the real machines end to end without a socket. `online = false` is the relay going away.
 */
import { cryptoRandomBytes, type SocketConnector } from '@backchannel/sdk';
import { DEFAULT_LIMITS, Depot, DiscoveryServer, MailboxServer, MemoryMailboxStore, type DepotLimits } from '@backchannel/sdk/server';
import { MemoryNetwork, MemoryStorage } from '@backchannel/sdk/testing';

export const RELAY_URL = 'ws://relay.memory.invalid/v1';

export class MemoryRelay {
  readonly #mailbox: MemoryNetwork;
  readonly #discovery: MemoryNetwork;

  constructor(options: { depotLimits?: Partial<DepotLimits> } = {}) {
    const now = () => Date.now();
    const store = new MemoryMailboxStore({ limits: DEFAULT_LIMITS, randomBytes: cryptoRandomBytes });
    this.#mailbox = new MemoryNetwork(new MailboxServer({ store, limits: DEFAULT_LIMITS, now }));
    const depot = new Depot({ storage: new MemoryStorage(), limits: options.depotLimits, now });
    this.#discovery = new MemoryNetwork(new DiscoveryServer({ randomBytes: cryptoRandomBytes, depot }));
  }

  /** `/backchannel/…` (DISCOVER's path, v2 today) goes to DISCOVER and the depot, anything else to the mailbox server. */
  readonly connector: SocketConnector = (url, handlers) =>
    (new URL(url).pathname.startsWith('/backchannel/') ? this.#discovery : this.#mailbox).connector(url, handlers);

  set online(online: boolean) {
    for (const net of [this.#mailbox, this.#discovery]) {
      net.online = online;
      if (!online) net.dropAll();
    }
  }
}
