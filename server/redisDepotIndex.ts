/**
 * The depot's index in Redis, shared by every relay on it, so the per-topic and global caps hold over
 * all of them (`server/depotIndex.ts` says what an index is). Under namespace `ns`:
 *
 * - `<ns>:depot:t:<topic>`: hash, deposit id → size (listed: its bytes are stored);
 * - `<ns>:depot:p:<topic>`: hash, deposit id → size (pending: reserved, its bytes being written);
 * - `<ns>:depot:tb`: hash, topic → bytes held (listed and pending);
 * - `<ns>:depot:totals`: hash, `items` and `bytes` over every topic (listed and pending);
 * - `<ns>:depot:time`: sorted set of `<topic>/<id>` scored by deposit time (what prune reads);
 * - `<ns>:depot:pending`: sorted set of the pending `<topic>/<id>`, by deposit time (what the sweep reads);
 * - `<ns>:depot:builds`: sorted set, builds in progress → when their lease ends;
 * - `<ns>:depot:gone`: set of `<topic>/<id>` released while a build was in progress (a build leaves them out);
 * - `<ns>:depot:built`: set once the index was built from storage (deposits made before it existed);
 * - `<ns>:depot:r:<topic>`: hash, deposit id → its reader entries (`tag:check` or `tag`), comma-separated (only deposits listing readers);
 * - `<ns>:depot:a:<topic>`: hash, deposit id → the tags of the readers that acked it so far, comma-separated;
 * - `<ns>:depot:h:<topic>`: hash, reader tag → when it last acked on the topic (ms; what `evictSilent` reads), for
 *   the tags some deposit of the topic still lists (a tag no deposit lists any more is forgotten as deposits go);
 * - `<ns>:depot:c:<topic>`: hash, reader tag → how many of the topic's deposits list it (so a release forgets
 *   a tag from H when its count reaches 0, reading only its own deposit's tags, never the topic's other deposits).
 *
 * Each change is one Lua script: the checks and the writes run atomically, in one round trip.
 * @module
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DepotLimits } from './depot.js';
import { readerTagOf } from '../src/depot/wire.js';
import { refusals, timeOf, type AckOutcome, type DepotIndex, type IndexedDeposit } from './depotIndex.js';

/**
 * Every script's KEYS: t, tb, totals, time, p, pending, builds, gone, r, a, h, c (see the module
 * comment); and the counts of listed tags (C), kept as deposits listing readers come and go.
 */
const KEY_NAMES = `
local T, TB, TOTALS, TIME, P, PENDING, BUILDS, GONE, R, A, H, C = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
-- An entry is 'tag:check' or a bare 'tag' (16 hex digits, then ':' and 32).
local function tagOf(entry) return string.sub(entry, 1, 16) end
-- The distinct tags of a deposit's reader entries (comma-separated).
local function tagsOf(readers)
  local seen, out = {}, {}
  for entry in string.gmatch(readers, '[^,]+') do
    local t = tagOf(entry)
    if not seen[t] then
      seen[t] = true
      out[#out + 1] = t
    end
  end
  return out
end
-- Deposits stored before C existed were never counted: a topic listing readers (R) with no counts at
-- all (C) is such a topic, as every counted deposit listing readers keeps a count above 0. Its counts
-- are taken once from R (the one full read, per topic, ever), so later releases never undercount and
-- forget a tag some older deposit still lists; from then on R and C change together.
local function countListed()
  if redis.call('EXISTS', C) == 1 or redis.call('HLEN', R) == 0 then return end
  for _, readers in ipairs(redis.call('HVALS', R)) do
    for _, t in ipairs(tagsOf(readers)) do redis.call('HINCRBY', C, t, 1) end
  end
end
countListed()
`;

/**
 * Release one deposit of `topic` (listed, or pending; only pending with `pendingOnly`), remembering it
 * as gone while a build is in progress; returns its size, or nil when it was not held.
 */
const RELEASE_ONE = `
-- A deposit listing readers went: each of its tags is listed by one deposit fewer; at 0 the tag is forgotten
-- in C and in H (only listed readers' times are read, so H holds at most the tags the topic's deposits list).
-- A count never goes below 0. One missing (a deposit a relay of an earlier version made during a rolling
-- upgrade, after countListed ran) leaves H as it is: the tag may still be listed, and forgetting when it was
-- heard could evict early; it goes with the topic, or when a counted deposit listing it goes.
local function unlist(readers)
  for _, t in ipairs(tagsOf(readers)) do
    local n = tonumber(redis.call('HGET', C, t) or '-1')
    if n > 1 then
      redis.call('HINCRBY', C, t, -1)
    elseif n >= 0 then
      redis.call('HDEL', C, t)
      redis.call('HDEL', H, t)
    end
  end
end
local function releaseOne(topic, id, pendingOnly, building)
  local member = topic .. '/' .. id
  if building then redis.call('SADD', GONE, member) end
  local from = T
  local size = nil
  if not pendingOnly then size = redis.call('HGET', T, id) end
  if not size then
    from = P
    size = redis.call('HGET', P, id)
  end
  if not size then return nil end
  size = tonumber(size)
  redis.call('HDEL', from, id)
  local readers = redis.call('HGET', R, id)
  if readers then
    redis.call('HDEL', R, id)
    unlist(readers)
  end
  redis.call('HDEL', A, id)
  redis.call('HINCRBY', TB, topic, -size)
  redis.call('HINCRBY', TOTALS, 'items', -1)
  redis.call('HINCRBY', TOTALS, 'bytes', -size)
  redis.call('ZREM', TIME, member)
  redis.call('ZREM', PENDING, member)
  return size
end
local function building(now)
  redis.call('ZREMRANGEBYSCORE', BUILDS, '-inf', now)
  return redis.call('ZCARD', BUILDS) > 0
end
local function has(list, t) return string.find(',' .. list .. ',', ',' .. t .. ',', 1, true) ~= nil end
local function forgetTopicIfEmpty(topic)
  if redis.call('HLEN', T) == 0 and redis.call('HLEN', P) == 0 then
    redis.call('HDEL', TB, topic)
    redis.call('DEL', H)
    redis.call('DEL', C)
  end
end
local function allAcked(readers, acked)
  for entry in string.gmatch(readers, '[^,]+') do
    if not has(acked, tagOf(entry)) then return false end
  end
  return true
end
`;

/**
 * ARGV: topic, id, size, the four caps, time, mode ('check', 'reserve': pending, within the caps, or
 * 'found': listed, without caps, unless released since a build began), readers ('' for none), acked
 * ('' for none). Returns 'ok' or the name of the cap that refused.
 */
const RESERVE = `${KEY_NAMES}
local topic, id, size, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[9]
local member = topic .. '/' .. id
if redis.call('HEXISTS', T, id) == 1 or redis.call('HEXISTS', P, id) == 1 then return 'ok' end
if mode == 'found' then
  if redis.call('SISMEMBER', GONE, member) == 1 then return 'ok' end
else
  if redis.call('HLEN', T) + redis.call('HLEN', P) >= tonumber(ARGV[4]) then return 'topicItems' end
  if tonumber(redis.call('HGET', TB, topic) or '0') + size > tonumber(ARGV[5]) then return 'topicBytes' end
  if tonumber(redis.call('HGET', TOTALS, 'items') or '0') >= tonumber(ARGV[6]) then return 'totalItems' end
  if tonumber(redis.call('HGET', TOTALS, 'bytes') or '0') + size > tonumber(ARGV[7]) then return 'totalBytes' end
  if mode == 'check' then return 'ok' end
end
if mode == 'reserve' then
  redis.call('HSET', P, id, size)
  redis.call('ZADD', PENDING, ARGV[8], member)
else
  redis.call('HSET', T, id, size)
end
if ARGV[10] ~= '' then
  redis.call('HSET', R, id, ARGV[10])
  for _, t in ipairs(tagsOf(ARGV[10])) do redis.call('HINCRBY', C, t, 1) end
end
if ARGV[11] ~= '' then redis.call('HSET', A, id, ARGV[11]) end
redis.call('HINCRBY', TB, topic, size)
redis.call('HINCRBY', TOTALS, 'items', 1)
redis.call('HINCRBY', TOTALS, 'bytes', size)
redis.call('ZADD', TIME, ARGV[8], member)
return 'ok'
`;

/** ARGV: topic, id. A pending deposit becomes listed: returns 1, or 0 when it is not pending. */
const COMMIT = `${KEY_NAMES}
local size = redis.call('HGET', P, ARGV[2])
if not size then return 0 end
redis.call('HDEL', P, ARGV[2])
redis.call('HSET', T, ARGV[2], size)
redis.call('ZREM', PENDING, ARGV[1] .. '/' .. ARGV[2])
return 1
`;

/**
 * ARGV: topic, now, '1' for pending ones only (else '0'), ids…. Returns id, size, id, size… of those it held (listed or pending). While a
 * build is in progress, every id is remembered as gone (GONE), held or not: its listing may hold it.
 */
const RELEASE = `${KEY_NAMES}${RELEASE_ONE}
local topic = ARGV[1]
local isBuilding = building(ARGV[2])
local out = {}
for i = 4, #ARGV do
  local size = releaseOne(topic, ARGV[i], ARGV[3] == '1', isBuilding)
  if size then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = tostring(size)
  end
end
forgetTopicIfEmpty(topic)
return out
`;

/**
 * ARGV: topic, now, the acking tag ('' for none), then id, check ('' for none) for each id. Only
 * listed ids count. One without readers is released; one with an entry the ack proves (its check
 * equal to the given one; a bare entry: equal to the tag) records that reader's tag (A, and H: heard
 * now) and is released once every reader acked; an ack proving no entry changes nothing. Returns 'r',
 * id, size for each released and 'k', id, acked for each kept.
 */
const ACK = `${KEY_NAMES}${RELEASE_ONE}
local topic, tag = ARGV[1], ARGV[3]
local isBuilding = building(ARGV[2])
local out = {}
local function proven(readers, check)
  for entry in string.gmatch(readers, '[^,]+') do
    local listed = string.sub(entry, 18)
    if listed ~= '' then
      if check ~= '' and check == listed then return tagOf(entry) end
    elseif tag ~= '' and entry == tag then return entry end
  end
  return nil
end
for i = 4, #ARGV, 2 do
  local id, check = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', T, id) == 1 then
    local readers = redis.call('HGET', R, id)
    local release = false
    local reader = nil
    if readers then reader = proven(readers, check) end
    if not readers then
      release = true
    elseif reader then
      local acked = redis.call('HGET', A, id) or ''
      if not has(acked, reader) then
        if acked == '' then acked = reader else acked = acked .. ',' .. reader end
      end
      redis.call('HSET', H, reader, ARGV[2])
      release = allAcked(readers, acked)
      if not release then
        redis.call('HSET', A, id, acked)
        out[#out + 1] = 'k'
        out[#out + 1] = id
        out[#out + 1] = acked
      end
    end
    if release then
      local size = releaseOne(topic, id, false, isBuilding)
      if size then
        out[#out + 1] = 'r'
        out[#out + 1] = id
        out[#out + 1] = tostring(size)
      end
    end
  end
end
forgetTopicIfEmpty(topic)
return out
`;

/**
 * ARGV: topic, now, idle (ms). Releases the listed deposits some reader acked whose missing readers
 * were each last heard from (H), or listed (the deposit's time), more than idle ago. Returns id, size
 * for each released.
 */
const EVICT = `${KEY_NAMES}${RELEASE_ONE}
local topic, now, idle = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local isBuilding = building(ARGV[2])
local out = {}
local all = redis.call('HGETALL', R)
for i = 1, #all, 2 do
  local id, readers = all[i], all[i + 1]
  local acked = redis.call('HGET', A, id) or ''
  if acked ~= '' and redis.call('HEXISTS', T, id) == 1 then
    local time = tonumber(string.sub(id, 1, 15))
    local silent = true
    for entry in string.gmatch(readers, '[^,]+') do
      local reader = tagOf(entry)
      if not has(acked, reader) then
        local since = math.max(tonumber(redis.call('HGET', H, reader) or '0'), time)
        if now - since <= idle then silent = false end
      end
    end
    if silent then
      local size = releaseOne(topic, id, false, isBuilding)
      if size then
        out[#out + 1] = id
        out[#out + 1] = tostring(size)
      end
    end
  end
end
forgetTopicIfEmpty(topic)
return out
`;

/** ARGV: build, now, lease end. A build starts; the first of a new round forgets the last round's ids. */
const BEGIN_BUILD = `${KEY_NAMES}
redis.call('ZREMRANGEBYSCORE', BUILDS, '-inf', ARGV[2])
if redis.call('ZCARD', BUILDS) == 0 then redis.call('DEL', GONE) end
redis.call('ZADD', BUILDS, ARGV[3], ARGV[1])
return 0
`;

/** ARGV: build, now, the built flag's key. A build ends; the last one forgets the ids released meanwhile. */
const END_BUILD = `${KEY_NAMES}
redis.call('ZREM', BUILDS, ARGV[1])
redis.call('ZREMRANGEBYSCORE', BUILDS, '-inf', ARGV[2])
if redis.call('ZCARD', BUILDS) == 0 then redis.call('DEL', GONE) end
redis.call('SET', ARGV[3], '1')
return 0
`;

const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
const SHAS = new Map([RESERVE, COMMIT, RELEASE, ACK, EVICT, BEGIN_BUILD, END_BUILD].map((lua) => [lua, sha(lua)]));

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

  #keys(topic = ''): string[] {
    const ns = this.#ns;
    return [
      `${ns}:t:${topic}`,
      `${ns}:tb`,
      `${ns}:totals`,
      `${ns}:time`,
      `${ns}:p:${topic}`,
      `${ns}:pending`,
      `${ns}:builds`,
      `${ns}:gone`,
      `${ns}:r:${topic}`,
      `${ns}:a:${topic}`,
      `${ns}:h:${topic}`,
      `${ns}:c:${topic}`,
    ];
  }

  async #reserve(d: IndexedDeposit, limits: DepotLimits | undefined, mode: 'check' | 'reserve' | 'found'): Promise<string | undefined> {
    const caps = limits ? [limits.maxItemsPerTopic, limits.maxBytesPerTopic, limits.maxItemsTotal, limits.maxBytesTotal] : [0, 0, 0, 0];
    const result = (await this.#eval(RESERVE, this.#keys(d.topic), [
      d.topic,
      d.id,
      d.size,
      ...caps,
      timeOf(d.id),
      mode,
      (d.readers ?? []).join(','),
      (d.acked ?? []).filter((a) => d.readers?.some((e) => readerTagOf(e) === a)).join(','),
    ])) as string;
    if (result === 'ok') return undefined;
    return refusals[result as keyof typeof refusals](limits!);
  }

  async isBuilt(): Promise<boolean> {
    return (await this.#redis.exists(`${this.#ns}:built`)) === 1;
  }

  async beginBuild(build: string, now: number, leaseUntil: number): Promise<void> {
    await this.#eval(BEGIN_BUILD, this.#keys(), [build, now, leaseUntil]);
  }

  async addFound(deposits: IndexedDeposit[]): Promise<void> {
    // Idempotent: relays building at once, or a deposit made meanwhile, are counted once.
    await Promise.all(deposits.map((d) => this.#reserve(d, undefined, 'found')));
  }

  async markBuilt(build: string, now: number): Promise<void> {
    await this.#eval(END_BUILD, this.#keys(), [build, now, `${this.#ns}:built`]);
  }

  refusal(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    return this.#reserve(d, limits, 'check');
  }

  reserve(d: IndexedDeposit, limits: DepotLimits): Promise<string | undefined> {
    return this.#reserve(d, limits, 'reserve');
  }

  async commit(topic: string, id: string): Promise<boolean> {
    return (await this.#eval(COMMIT, this.#keys(topic), [topic, id])) === 1;
  }

  async pendingBefore(time: number, max: number): Promise<IndexedDeposit[]> {
    const members = await this.#redis.zrangebyscore(`${this.#ns}:pending`, '-inf', `(${time}`, 'LIMIT', 0, max);
    const out: IndexedDeposit[] = [];
    for (const m of members) {
      const slash = m.indexOf('/');
      const [topic, id] = [m.slice(0, slash), m.slice(slash + 1)];
      const size = await this.#redis.hget(`${this.#ns}:p:${topic}`, id);
      if (size !== null) out.push({ topic, id, size: Number(size) });
    }
    return out;
  }

  async release(topic: string, ids: string[], now: number, pendingOnly = false): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (ids.length === 0) return out;
    const flat = (await this.#eval(RELEASE, this.#keys(topic), [topic, now, pendingOnly ? '1' : '0', ...ids])) as string[];
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i]!, Number(flat[i + 1]));
    return out;
  }

  async ack(topic: string, ids: string[], tag: string | undefined, now: number, checks?: string[]): Promise<AckOutcome> {
    const outcome: AckOutcome = { released: new Map(), kept: new Map() };
    if (ids.length === 0) return outcome;
    const flat = (await this.#eval(ACK, this.#keys(topic), [topic, now, tag ?? '', ...ids.flatMap((id, i) => [id, checks?.[i] ?? ''])])) as string[];
    for (let i = 0; i < flat.length; i += 3) {
      if (flat[i] === 'r') {
        outcome.released.set(flat[i + 1]!, Number(flat[i + 2]));
        outcome.kept.delete(flat[i + 1]!);
      } else outcome.kept.set(flat[i + 1]!, flat[i + 2]!.split(',').sort());
    }
    return outcome;
  }

  async evictSilent(topic: string, now: number, idleMs: number): Promise<Map<string, number>> {
    const flat = (await this.#eval(EVICT, this.#keys(topic), [topic, now, idleMs])) as string[];
    const out = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i]!, Number(flat[i + 1]));
    return out;
  }

  async entries(topic: string, reader?: string): Promise<Map<string, number>> {
    if (reader === undefined) {
      const all = await this.#redis.hgetall(`${this.#ns}:t:${topic}`);
      return new Map(Object.entries(all).map(([id, size]) => [id, Number(size)]));
    }
    // One snapshot of both: a deposit listed is never paired with another moment's acks.
    const [[, all], [, acks]] = (await this.#redis.multi().hgetall(`${this.#ns}:t:${topic}`).hgetall(`${this.#ns}:a:${topic}`).exec()) as [
      [unknown, Record<string, string>],
      [unknown, Record<string, string>],
    ];
    const ackedBy = (id: string) => acks[id] !== undefined && acks[id]!.split(',').includes(reader);
    return new Map(
      Object.entries(all)
        .filter(([id]) => !ackedBy(id))
        .map(([id, size]) => [id, Number(size)]),
    );
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
