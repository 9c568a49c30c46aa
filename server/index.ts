/**
 * The Backchannel relay: a magic-wormhole compatible mailbox server.
 * @module
 */
export { startRelay, type Relay, type RelayOptions } from './relay.js';
export { MailboxServer, type ServerConnection, type ConnectionHandle, type MailboxServerOptions } from './mailboxServer.js';
export { MemoryMailboxStore, type MailboxStore, type StoredMessage, type StoreLimits, type MemoryStoreOptions } from './store.js';
export { DEFAULT_LIMITS, type RelayLimits } from './limits.js';
export { jsonLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export { DiscoveryServer, DEFAULT_DISCOVERY_LIMITS, type DiscoveryLimits } from './discoveryServer.js';
export { Depot, DEFAULT_DEPOT_LIMITS, type DepotLimits, type Deposit } from './depot.js';
export { MemoryDiscoveryHub, type DiscoveryHub, type HubFrame, type HubDelivery } from './discoveryHub.js';
export { RedisDiscoveryHub, type RedisDiscoveryHubOptions } from './redisDiscoveryHub.js';
export { RedisStorage } from './redisStorage.js';
export { RedisMailboxStore, type RedisMailboxStoreOptions } from './redisMailboxStore.js';
