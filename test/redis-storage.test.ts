import { afterAll, beforeAll } from 'vitest';
import { RedisStorage } from '../server/redisStorage.js';
import { startRedis, type RedisProcess } from './helpers/redis.js';
import { runStorageAdapterTests } from './helpers/storageAdapterTests.js';

// The same conformance cases as every other adapter, against a real redis-server.
let redis: RedisProcess;
let n = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

runStorageAdapterTests('redis', async () => ({ adapter: new RedisStorage(redis.client(), `case${n++}`), teardown: async () => {} }));
