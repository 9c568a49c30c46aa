/**
 * `@backchannel/sdk/server/redis`: the relay's Redis-backed parts, for running several relays on one
 * Redis. Needs `ioredis` (an optional peer dependency: `npm i ioredis`).
 * @module
 */
export { RedisDiscoveryHub, type RedisDiscoveryHubOptions } from './redisDiscoveryHub.js';
export { RedisStorage } from './redisStorage.js';
export { RedisDepotIndex } from './redisDepotIndex.js';
export { RedisMailboxStore, type RedisMailboxStoreOptions } from './redisMailboxStore.js';
