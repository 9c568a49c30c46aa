/**
 * The depot's index in Redis, shared by every relay on it, so the per-topic and global caps hold over
 * all of them (`server/depotIndex.ts` says what an index is). Under namespace `ns`:
 *
 * - `<ns>:depot:t:<topic>`: hash, deposit id → size;
 * - `<ns>:depot:tb`: hash, topic → bytes held;
 * - `<ns>:depot:totals`: hash, `items` and `bytes` over every topic;
 * - `<ns>:depot:time`: sorted set of `<topic>/<id>` scored by deposit time (what prune reads);
 * - `<ns>:depot:built`: set once the index was built from storage (deposits made before it existed).
 *
 * Each change is one Lua script: the checks and the writes run atomically, in one round trip.
 * @module
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DepotLimits } from './depot.js';
import { refusals, timeOf, type DepotIndex, type IndexedDeposit } from './depotIndex.js';

/**
 * KEYS: topic hash, tb, totals, time. ARGV: topic, id, size, the four caps, time, mode ('check',
 * 'reserve' or 'found': record without caps). Returns 'ok' or the name of the cap that refused.
 */
const RESERVE = `
local size = tonumber(ARGV[3])
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return 'ok' end
if ARGV[9] ~= 'found' then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 'topicItems' end
  if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') + size > tonumber(ARGV[5]) then return 'topicBytes' end
  if tonumber(redis.call('HGET', KEYS[3], 'items') or '0') >= tonumber(ARGV[6]) then return 'totalItems' end
  if tonumber(redis.call('HGET', KEYS[3], 'bytes') or '0') + size > tonumber(ARGV[7]) then return 'totalBytes' end
  if ARGV[9] == 'check' then return 'ok' end
end
redis.call('HSET', KEYS[1], ARGV[2], size)
redis.call('HINCRBY', KEYS[2], ARGV[1], size)
redis.call('HINCRBY', KEYS[3], 'items', 1)
redis.call('HINCRBY', KEYS[3], 'bytes', size)
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[1] .. '/' .. ARGV[2])
return 'ok'
`;

/** KEYS as RESERVE's. ARGV: topic, ids…. Returns id, size, id, size… of those it held. */
const RELEASE = `
local out = {}
for i = 2, #ARGV do
  local size = redis.call('HGET', KEYS[1], ARGV[i])
  if size then
    size = tonumber(size)
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HINCRBY', KEYS[2], ARGV[1], -size)
    redis.call('HINCRBY', KEYS[3], 'items', -1)
    redis.call('HINCRBY', KEYS[3], 'bytes', -size)
    redis.call('ZREM', KEYS[4], ARGV[1] .. '/' .. ARGV[i])
    out[#out + 1] = ARGV[i]
    out[#out + 1] = tostring(size)
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return out
`;

const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
const SHAS = new Map([RESERVE, RELEASE].map((lua) => [lua, sha(lua)]));

/** The depot's index in Redis, shared by every relay on it (see the module comment). */
export class RedisDepotIndex implements DepotIndex {
  readonly #redis: Redis;
  readonly #ns: string;

  /** `namespace`: the relay's Redis namespace (default `backchannel`). */
  constructor(redis: Redis, namespace = 'backchannel') {
    this.#redis = redis;
    this.#ns = `${namespace}:depot`;
  }

  /** Run a script: EVALSHA, and the script itself the first time this Redis has not seen it. */
  async #eval(lua: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(SHAS.get(lua)!, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String(err).includes('NOSCRIPT')) throw err;
      return this.#redis.eval(lua, keys.length, ...keys, ...args);
    }
  }

  #keys(topic: string): string[] {
    return [`${this.#ns}:t:${topic}`, `${this.#ns}:tb`, `${this.#ns}:totals`, `${this.#ns}:time`];
  }

  async #reserve(d: IndexedDeposit, limits: DepotLimits | undefined, mode: 'check' | 'reserve' | 'found'): Promise<string | undefined> {
    const caps = limits ? [limits.maxItemsPerTopic, limits.maxBytesPerTopic, limits.maxItemsTotal, limits.maxBytesTotal] : [0, 0, 0, 0];
    const result = (await this.#eval(RESERVE, this.#keys(d.topic), [d.topic, d.id, d.size, ...caps, timeOf(d.id), mode])) as string;
    if (result === 'ok') return undefined;
    return refusals[result as keyof typeof refusals](limits!);
  }

  async isBuilt(): Promise<boolean> {
    return (await this.#redis.exists(`${this.#ns}:built`)) === 1;
  }

  async addFound(deposits: IndexedDeposit[]): Promise<void> {
    // Idempotent: relays building at once, or a deposit made meanwhile, are counted once.
    await Promise.all(deposits.map((d) => this.#reserve(d, undefined, 'found')));
  }

  async markBuilt(): Promise<void> {
    await this.#redis.set(`${this.#ns}:built`, '1');
  }

  refusal(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    return this.#reserve(d, limits, 'check');
  }

  reserve(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    return this.#reserve(d, limits, 'reserve');
  }

  async release(topic: string, ids: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (ids.length === 0) return out;
    const flat = (await this.#eval(RELEASE, this.#keys(topic), [topic, ...ids])) as string[];
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i]!, Number(flat[i + 1]));
    return out;
  }

  async entries(topic: string): Promise<Map<string, number>> {
    const all = await this.#redis.hgetall(`${this.#ns}:t:${topic}`);
    return new Map(Object.entries(all).map(([id, size]) => [id, Number(size)]));
  }

  async totals(): Promise<{ items: number; bytes: number }> {
    const [items, bytes] = await this.#redis.hmget(`${this.#ns}:totals`, 'items', 'bytes');
    return { items: Number(items ?? 0), bytes: Number(bytes ?? 0) };
  }

  async olderThan(time: number, max: number): Promise<{ topic: string; id: string }[]> {
    const members = await this.#redis.zrangebyscore(`${this.#ns}:time`, '-inf', `(${time}`, 'LIMIT', 0, max);
    return members.map((m) => {
      const slash = m.indexOf('/');
      return { topic: m.slice(0, slash), id: m.slice(slash + 1) };
    });
  }
}
