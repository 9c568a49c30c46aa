/**
 * `@backchannel/sdk/server`: the Backchannel relay, a magic-wormhole compatible mailbox server.
 * `startRelay({ redis })` loads `ioredis` (an optional peer dependency) only when asked; the Redis
 * building blocks are in `@backchannel/sdk/server/redis`.
 * @module
 */
export { startRelay, type Relay, type RelayOptions } from './relay.js';
export {
  MailboxServer,
  RATE_LIMITED,
  QUOTA_EXCEEDED,
  type ServerConnection,
  type ConnectionHandle,
  type MailboxServerOptions,
  type RefusalReason,
} from './mailboxServer.js';
export {
  MemoryMailboxStore,
  type MailboxStore,
  type StoredMessage,
  type StoreLimits,
  type MemoryStoreOptions,
  type StoreStats,
  type StoreChange,
  StoreLimitError,
  type StoreRefusalReason,
  type NameplateRecord,
  type MailboxRecord,
  type Side,
  type MailboxSide,
} from './store.js';
export { DEFAULT_LIMITS, type RelayLimits } from './limits.js';
export { jsonLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export { DiscoveryServer, DEFAULT_DISCOVERY_LIMITS, type DiscoveryLimits } from './discoveryServer.js';
export { Depot, DEFAULT_DEPOT_LIMITS, type DepotLimits, type Deposit, type DepositPage } from './depot.js';
export type { DepositItem } from '../src/depot/wire.js';
export { MemoryDepotIndex, type AckOutcome, type DepotIndex, type IndexedDeposit } from './depotIndex.js';
export {
  startTransitRelay,
  TransitRelayServer,
  DEFAULT_TRANSIT_LIMITS,
  parseRelayHandshake,
  type HandshakeParse,
  type TransitRelay,
  type TransitRelayOptions,
  type TransitLimits,
  type TransitStats,
} from './transitRelay.js';
export { MemoryDiscoveryHub, type DiscoveryHub, type HubFrame, type HubDelivery } from './discoveryHub.js';
// Limits and settings from a config file and flags, as `backchannel relay` reads them.
export { resolveRelayConfig, parseLimitList, type RelayConfig, type RelayConfigInput, type MetricsAccess } from './relayConfig.js';
export { renderMetrics, type MetricsSample } from './metrics.js';
