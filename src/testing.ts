/**
 * `@backchannel/sdk/testing`: in-memory doubles for a host's own tests — a relay network, storage and
 * transport pairs that need no sockets, disk or browser.
 * @module
 */
export { MemoryNetwork, type MemoryServer, type MemoryNetworkOptions } from './adapters/memoryNetwork.js';
export { MemoryStorage } from './adapters/memoryStorage.js';
export { MemoryLink, type MemoryLinkOptions, type End, type InFlight } from './adapters/memoryLink.js';
