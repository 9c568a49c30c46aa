/**
 * Nameplates and mailboxes (VERIFY's relay state) in Redis, so two people can pair through different
 * relay processes: Alice's relay allocates the nameplate, Bob's claims it, and each relay hands the
 * other's `add`s to its own clients.
 *
 * The rules are {@link MemoryMailboxStore}'s (wormhole-mailbox-server's `server.py`); the records are
 * small JSON values, one per nameplate and per mailbox. Each operation a client makes (claim with its
 * mailbox's open, open, add, release, close, touch) is one Lua script: read, decide and write in one
 * round trip, atomic, with no retry loop, and independent operations go out pipelined on one
 * connection. Only the minutely prune still uses optimistic transactions (`WATCH`, read, decide,
 * `MULTI`/`EXEC`, retry when another relay changed a record meanwhile). Messages sit in a list per
 * mailbox. A mailbox's record names the relays whose clients claimed or opened it (`relays`); each
 * `add` is published (by its script), with its index, on the channel of each of those relays but the
 * adder's. A relay subscribes to its own channel once, at its start: no SUBSCRIBE or UNSUBSCRIBE per
 * mailbox, and no relay hears adds to mailboxes none of its clients use.
 *
 *   <ns>:np:<appid>:<nameplate>   {mailbox, sides: {side: {claimed, added}}}
 *   <ns>:mb:<appid>:<mailbox>     {forNameplate, updated, sides: {side: {opened, mood}}, count, bytes, relays: {relay: true}}
 *   <ns>:msgs:<appid>:<mailbox>   list of StoredMessage JSON
 *   <ns>:nps:<appid>, <ns>:mbs:<appid>, <ns>:apps   index sets (listing, limits, pruning)
 *   <ns>:bytes                    the bytes held, counted as the memory store counts them (store.ts)
 *   <ns>:freed:<appid>            sorted set, nameplate → when it was freed (nameplateReuse.ts), over every relay
 *
 * The byte budget (`maxStoreBytes`) and the appid quota are checked inside the scripts, so they hold
 * over every relay. Byte counts use the clients' strings' lengths as JavaScript measures them (passed
 * to the scripts), as the memory store does.
 *   channel <ns>:adds:<relay>     [index, appid, mailbox, message]
 * @module
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { NAMEPLATE_REUSE_MAX, NAMEPLATE_REUSE_MS } from './nameplateReuse.js';
import {
  mailboxId,
  messageBytes,
  randomBelow,
  RECORD_OVERHEAD,
  SIDE_OVERHEAD,
  STORE_FULL,
  StoreCrowdedError,
  StoreLimitError,
  StoreReclaimedError,
  type MailboxStore,
  type StoreLimits,
  type StoredMessage,
  type StoreStats,
} from './store.js';

interface NameplateRecord {
  mailbox: string;
  sides: Record<string, { claimed: boolean; added: number }>;
  bytes: number;
}
interface MailboxRecord {
  forNameplate: boolean;
  updated: number;
  sides: Record<string, { opened: boolean; mood?: string }>;
  count: number;
  /** Its own record plus its messages. */
  bytes: number;
}

/** What a `RedisMailboxStore` needs: two Redis connections, its limits, randomness and this relay's id. */
export interface RedisMailboxStoreOptions {
  redis: Redis;
  /** A second connection, only for SUBSCRIBE (to this relay's channel, once). */
  subscriber: Redis;
  limits: StoreLimits;
  /** Random bytes for mailbox ids and nameplate choice. */
  randomBytes: (n: number) => Uint8Array;
  /** This relay, so it can tell its own published adds from other relays'. */
  relayId: string;
  namespace?: string;
}

/**
 * What every script starts with. ARGV[1..6]: appid, its length (as JavaScript counts it), the budget
 * (`maxStoreBytes`), `maxAppids`, `maxMailboxBytes`, `now`; the script's own arguments follow at ARGV[7].
 * KEYS[1], KEYS[2]: the byte counter and the appid set.
 */
const PRELUDE = `
local appid, appidLen, maxStore, maxAppids, maxMailboxBytes, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local OVERHEAD, SIDE = ${RECORD_OVERHEAD}, ${SIDE_OVERHEAD}
local function budget(delta)
  if delta > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') + delta > maxStore then return 'store-full' end
  if redis.call('SISMEMBER', KEYS[2], appid) == 0 and redis.call('SCARD', KEYS[2]) >= maxAppids then return 'too-many-appids' end
  return nil
end
local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end
-- Open mailbox \`id\` (its key, messages' key, index set) for \`side\`; returns an error name, or nil and whether it is crowded.
local function open(mbKey, mbsKey, id, idLen, side, sideLen, forNameplate, maxMailboxes, relay)
  local raw = redis.call('GET', mbKey)
  local record, before
  if raw then
    record = cjson.decode(raw)
    before = record.bytes
  else
    if redis.call('SCARD', mbsKey) >= maxMailboxes then return 'too-many-mailboxes' end
    record = { forNameplate = forNameplate, updated = now, sides = {}, count = 0, bytes = OVERHEAD + appidLen + idLen }
    before = 0
  end
  if type(record.sides) ~= 'table' then record.sides = {} end
  if type(record.relays) ~= 'table' then record.relays = {} end
  record.relays[relay] = true
  if record.sides[side] == nil then
    local delta = SIDE + sideLen
    local refused = budget(record.bytes + delta - before)
    if refused then return refused end
    if record.bytes + delta > maxMailboxBytes then return 'mailbox-full-bytes' end
    record.sides[side] = { opened = true }
    record.bytes = record.bytes + delta
  end
  record.updated = now
  redis.call('SET', mbKey, cjson.encode(record))
  redis.call('SADD', mbsKey, id)
  redis.call('SADD', KEYS[2], appid)
  redis.call('INCRBY', KEYS[1], record.bytes - before)
  return nil, count(record.sides) > 2
end
`;

/**
 * Claiming: `claim(npKey, name, nameLen, fresh)` claims nameplate `name` for `side` and opens its
 * mailbox. KEYS[3]: the nameplate set, KEYS[4]: the mailbox set. ARGV[7..]: side, side length, a new
 * mailbox id, the mailbox key prefix, maxNameplatesPerApp, maxMailboxesPerApp, this relay. Returns
 * {error} or {'ok', mailbox, crowded}.
 */
const CLAIMING = `${PRELUDE}
local side, sideLen, newMailbox, mbPrefix = ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]
local maxNameplates, maxMailboxes, relay = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
local function claim(npKey, name, nameLen, fresh)
  local raw = redis.call('GET', npKey)
  if raw and fresh then return { 'taken' } end
  local record, before
  if raw then
    record = cjson.decode(raw)
    before = record.bytes
  else
    if redis.call('SCARD', KEYS[3]) >= maxNameplates then return { 'too-many-nameplates' } end
    -- The mailbox comes next: make sure both fit.
    local refused = budget(OVERHEAD + appidLen + nameLen + #newMailbox + SIDE + sideLen + OVERHEAD + appidLen + #newMailbox + SIDE + sideLen)
    if refused then return { refused } end
    record = { mailbox = newMailbox, sides = {}, bytes = OVERHEAD + appidLen + nameLen + #newMailbox }
    before = 0
  end
  if type(record.sides) ~= 'table' then record.sides = {} end
  local mine = record.sides[side]
  if mine == nil then
    record.sides[side] = { claimed = true, added = now }
    record.bytes = record.bytes + SIDE + sideLen
  elseif not mine.claimed then
    return { 'reclaimed' }
  end
  local refused = budget(record.bytes - before)
  if refused then return { refused } end
  redis.call('SET', npKey, cjson.encode(record))
  redis.call('SADD', KEYS[3], name)
  redis.call('SADD', KEYS[2], appid)
  redis.call('INCRBY', KEYS[1], record.bytes - before)
  local crowded = count(record.sides) > 2
  local failed, crowdedBox = open(mbPrefix .. record.mailbox, KEYS[4], record.mailbox, #record.mailbox, side, sideLen, true, maxMailboxes, relay)
  if failed then return { failed } end
  return { 'ok', record.mailbox, (crowded or crowdedBox) and 1 or 0 }
end
`;

/**
 * Claim nameplate ARGV[16] (its key: KEYS[5]; its length: ARGV[14]); with ARGV[15] '1', only if nobody
 * holds it (an allocation's random pick).
 */
const CLAIM = `${CLAIMING}
return claim(KEYS[5], ARGV[16], tonumber(ARGV[14]), ARGV[15] == '1')
`;

/**
 * Allocate: pick, as server.py does, the shortest free id (1–9, then 10–99, then 100–999) at random
 * among those not freed in the last ARGV[16] ms (through any relay; KEYS[5]: when each was freed), else
 * the one freed longest ago; and claim it, in the same script, so relays allocating at once never pick
 * the same id. ARGV[14]: the nameplate key prefix, ARGV[15]: a random integer. Returns {'ok', mailbox,
 * crowded, nameplate}, {error}, or {'full'} when every id below 1000 is in use (the caller picks one
 * at random above).
 */
const ALLOCATE = `${CLAIMING}
local npPrefix, r, reuseMs = ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16])
local used = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[3])) do used[n] = true end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - reuseMs)
for size = 1, 3 do
  local rested, oldest, oldestAt = {}, nil, nil
  for i = 10 ^ (size - 1), 10 ^ size - 1 do
    local name = tostring(i)
    if not used[name] then
      local at = redis.call('ZSCORE', KEYS[5], name)
      if not at then
        rested[#rested + 1] = name
      elseif oldestAt == nil or tonumber(at) < oldestAt then
        oldest, oldestAt = name, tonumber(at)
      end
    end
  end
  local name = oldest
  if #rested > 0 then name = rested[r % #rested + 1] end
  if name then
    local out = claim(npPrefix .. name, name, #name, true)
    out[4] = name
    return out
  end
end
return { 'full' }
`;

/**
 * Open mailbox `id` for `side`. KEYS[3..5]: the mailbox, its messages, the mailbox set. ARGV[7..]: id,
 * its length, side, side length, maxMailboxesPerApp, this relay. Returns {error} or {'ok', crowded, messages…}.
 */
const OPEN = `${PRELUDE}
local failed, crowded = open(KEYS[3], KEYS[5], ARGV[7], tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10]), false, tonumber(ARGV[11]), ARGV[12])
if failed then return { failed } end
local out = { 'ok', crowded and 1 or 0 }
for _, m in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do out[#out + 1] = m end
return out
`;

/**
 * Append a message to mailbox KEYS[3] (messages: KEYS[4]) and publish it to the other relays that
 * claimed or opened it, each on its channel (prefix ARGV[11]). ARGV[7..]: the message's JSON, its
 * bytes, maxMessagesPerMailbox, this relay's id, the channel prefix, the mailbox id. Returns {error} or {'ok', index}.
 */
const ADD = `${PRELUDE}
local message, bytes, maxMessages, relay, channels, id = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10], ARGV[11], ARGV[12]
local raw = redis.call('GET', KEYS[3])
if not raw then return { 'mailbox-gone' } end
local record = cjson.decode(raw)
if record.count >= maxMessages then return { 'mailbox-full-count' } end
if record.bytes + bytes > maxMailboxBytes then return { 'mailbox-full-bytes' } end
local refused = budget(bytes)
if refused then return { refused } end
local index = record.count
record.count = record.count + 1
record.bytes = record.bytes + bytes
record.updated = now
redis.call('SET', KEYS[3], cjson.encode(record))
redis.call('RPUSH', KEYS[4], message)
redis.call('INCRBY', KEYS[1], bytes)
if type(record.relays) == 'table' then
  local added
  for other in pairs(record.relays) do
    if other ~= relay then
      added = added or ('[' .. index .. ',' .. cjson.encode(appid) .. ',' .. cjson.encode(id) .. ',' .. message .. ']')
      redis.call('PUBLISH', channels .. other, added)
    end
  end
end
return { 'ok', index }
`;

/**
 * Release nameplate KEYS[3] (set KEYS[4]) for side ARGV[7], name ARGV[8]. Returns 'freed' when nobody
 * holds it any more, and notes when in KEYS[5] (for ARGV[9] ms, at most ARGV[10] names).
 */
const RELEASE = `${PRELUDE}
local raw = redis.call('GET', KEYS[3])
if not raw then return 'none' end
local record = cjson.decode(raw)
local mine = type(record.sides) == 'table' and record.sides[ARGV[7]] or nil
if mine == nil then return 'none' end
mine.claimed = false
for _, s in pairs(record.sides) do
  if s.claimed then
    redis.call('SET', KEYS[3], cjson.encode(record))
    return 'kept'
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[8])
redis.call('DECRBY', KEYS[1], record.bytes)
redis.call('ZADD', KEYS[5], now, ARGV[8])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -1 - tonumber(ARGV[10]))
redis.call('PEXPIRE', KEYS[5], ARGV[9])
return 'freed'
`;

/**
 * Close mailbox KEYS[3] (messages KEYS[4], set KEYS[5]) for side ARGV[7] with mood ARGV[9] (when
 * ARGV[8] is '1'), of length ARGV[10]; id ARGV[11]. Returns 1 when the mailbox went (nobody has it open).
 */
const CLOSE = `${PRELUDE}
local raw = redis.call('GET', KEYS[3])
if not raw then return 0 end
local record = cjson.decode(raw)
local mine = type(record.sides) == 'table' and record.sides[ARGV[7]] or nil
if mine == nil then return 0 end
local old = 0
if type(mine.mood) == 'string' then old = tonumber(mine.moodLen) or #mine.mood end
local delta = (ARGV[8] == '1' and tonumber(ARGV[10]) or 0) - old
mine.opened = false
if ARGV[8] == '1' then
  mine.mood = ARGV[9]
  mine.moodLen = tonumber(ARGV[10])
else
  mine.mood = nil
  mine.moodLen = nil
end
record.bytes = record.bytes + delta
for _, s in pairs(record.sides) do
  if s.opened then
    redis.call('SET', KEYS[3], cjson.encode(record))
    redis.call('INCRBY', KEYS[1], delta)
    return 0
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('SREM', KEYS[5], ARGV[11])
redis.call('DECRBY', KEYS[1], record.bytes - delta)
return 1
`;

/** Mark the mailboxes ARGV[8..] (key prefix ARGV[7]) as used at \`now\`. */
const TOUCH = `${PRELUDE}
for i = 8, #ARGV do
  local key = ARGV[7] .. ARGV[i]
  local raw = redis.call('GET', key)
  if raw then
    local record = cjson.decode(raw)
    record.updated = now
    redis.call('SET', key, cjson.encode(record))
  end
end
return 0
`;

/** A script and its SHA-1, for EVALSHA (the script is sent once, at the first NOSCRIPT). */
interface Script {
  lua: string;
  sha: string;
}
const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const SCRIPTS = {
  claim: script(CLAIM),
  allocate: script(ALLOCATE),
  open: script(OPEN),
  add: script(ADD),
  release: script(RELEASE),
  close: script(CLOSE),
  touch: script(TOUCH),
};

/** Another relay changed a record between our read and our write: read again. */
class Conflict extends Error {}
/** The nameplate we meant to allocate was allocated through another relay first. */
class Taken extends Error {}
const MAX_RETRIES = 50;

/** Pairing state in Redis, shared by every relay on it, so both sides of a code may reach different relays. */
export class RedisMailboxStore implements MailboxStore {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #limits: StoreLimits;
  readonly #randomBytes: (n: number) => Uint8Array;
  readonly #relayId: string;
  readonly #ns: string;
  /** This relay's channel: other relays publish there the adds to mailboxes our clients claimed or opened. */
  readonly #channel: string;
  /** Resolves once subscribed to `#channel`. */
  readonly #subscribed: Promise<unknown>;
  /** WATCH belongs to a connection: this process runs one transaction (the prune's) at a time on it. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Watchers by mailbox (`appid\0mailbox`). */
  readonly #watchers = new Map<string, Set<(m: StoredMessage, index: number) => void>>();
  /**
   * Opens in flight, by mailbox: adds through other relays heard while an open's reply is on its way.
   * Such an add came after the open's read (so the open does not return it) yet before its opener
   * listens (so no watcher takes it): the open returns it too.
   */
  readonly #opening = new Map<string, Set<Map<number, StoredMessage>>>();

  constructor(options: RedisMailboxStoreOptions) {
    this.#redis = options.redis;
    this.#sub = options.subscriber;
    this.#limits = options.limits;
    this.#randomBytes = options.randomBytes;
    this.#relayId = options.relayId;
    this.#ns = options.namespace ?? 'backchannel';
    this.#channel = `${this.#ns}:adds:${this.#relayId}`;
    this.#sub.on('message', (channel: string, text: string) => {
      if (channel === this.#channel) this.#onAdded(text);
    });
    this.#subscribed = this.#sub.subscribe(this.#channel);
    this.#subscribed.catch(() => {}); // watch() reports it
  }

  #np = (appid: string, name: string) => `${this.#ns}:np:${appid}:${name}`;
  #mb = (appid: string, id: string) => `${this.#ns}:mb:${appid}:${id}`;
  #msgs = (appid: string, id: string) => `${this.#ns}:msgs:${appid}:${id}`;
  #nps = (appid: string) => `${this.#ns}:nps:${appid}`;
  #mbs = (appid: string) => `${this.#ns}:mbs:${appid}`;
  #freed = (appid: string) => `${this.#ns}:freed:${appid}`;
  get #apps() {
    return `${this.#ns}:apps`;
  }
  get #bytes() {
    return `${this.#ns}:bytes`;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Run `body` as one optimistic transaction over the records in `keys`: it reads them (watched),
   * decides, and queues writes on `multi`; a change by another relay in between makes us start over.
   */
  async #transact<T>(keys: string[], body: (records: (string | null)[], multi: ReturnType<Redis['multi']>) => Promise<T> | T): Promise<T> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      await this.#redis.watch(...keys);
      try {
        const records = await this.#redis.mget(...keys);
        const multi = this.#redis.multi();
        const result = await body(records, multi);
        const done = await multi.exec();
        if (done === null) throw new Conflict();
        return result;
      } catch (err) {
        await this.#redis.unwatch();
        if (!(err instanceof Conflict)) throw err;
      }
    }
    throw new StoreLimitError('store-busy', 'the relay store is too busy, try again');
  }

  async listNameplates(appid: string): Promise<string[]> {
    return (await this.#redis.smembers(this.#nps(appid))).sort();
  }

  /** Run one of the scripts: EVALSHA, and the script itself the first time this Redis has not seen it. */
  async #run(name: keyof typeof SCRIPTS, appid: string, now: number, keys: string[], args: (string | number)[]): Promise<unknown> {
    const { lua, sha } = SCRIPTS[name];
    const l = this.#limits;
    const all = [this.#bytes, this.#apps, ...keys];
    const argv = [appid, appid.length, l.maxStoreBytes, l.maxAppids, l.maxMailboxBytes, now, ...args];
    try {
      return await this.#redis.evalsha(sha, all.length, ...all, ...argv);
    } catch (err) {
      if (!String(err).includes('NOSCRIPT')) throw err;
      return this.#redis.eval(lua, all.length, ...all, ...argv);
    }
  }

  /** The error a script's refusal stands for. */
  #refusal(name: string): Error {
    switch (name) {
      case 'store-full':
        return new StoreLimitError('store-full', STORE_FULL);
      case 'too-many-appids':
        return new StoreLimitError('too-many-appids', 'too many appids in use, try later');
      case 'too-many-nameplates':
        return new StoreLimitError('too-many-nameplates', 'too many nameplates in use, try later');
      case 'too-many-mailboxes':
        return new StoreLimitError('too-many-mailboxes', 'too many mailboxes in use, try later');
      case 'mailbox-full-bytes':
        return new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMailboxBytes} bytes)`);
      case 'mailbox-full-count':
        return new StoreLimitError('mailbox-full', `mailbox is full (${this.#limits.maxMessagesPerMailbox} messages)`);
      case 'mailbox-gone':
        return new StoreLimitError('mailbox-gone', 'mailbox is gone');
      case 'reclaimed':
        return new StoreReclaimedError();
      case 'taken':
        return new Taken();
      default:
        return new Error(`unexpected answer from the store's script: ${name}`);
    }
  }

  async allocateNameplate(appid: string, side: string, now: number): Promise<string> {
    // Picked and claimed in one script: relays allocating at once never race for one id.
    const [status, , crowded, name] = (await this.#run(
      'allocate',
      appid,
      now,
      [this.#nps(appid), this.#mbs(appid), this.#freed(appid)],
      [...this.#claimArgs(appid, side), this.#np(appid, ''), randomBelow(2 ** 31, this.#randomBytes), NAMEPLATE_REUSE_MS],
    )) as [string, string?, number?, string?];
    if (status === 'full') return this.#allocateAbove999(appid, side, now);
    if (status !== 'ok') throw this.#refusal(status);
    if (crowded) throw new StoreCrowdedError();
    return name!;
  }

  /** Every id below 1000 in use: random ones up to a million, as server.py; another relay may take ours first. */
  async #allocateAbove999(appid: string, side: string, now: number): Promise<string> {
    const used = new Set(await this.#redis.smembers(this.#nps(appid)));
    for (let tries = 0; tries < 1000; tries++) {
      const id = String(1000 + randomBelow(999_000, this.#randomBytes));
      if (used.has(id)) continue;
      try {
        await this.#claim(appid, id, side, now, true);
        return id;
      } catch (err) {
        if (!(err instanceof Taken)) throw err;
        used.add(id);
      }
    }
    throw new StoreLimitError('too-many-nameplates', 'unable to find a free nameplate-id');
  }

  /** ARGV[7..13] of a claim or an allocation (see CLAIMING). */
  #claimArgs(appid: string, side: string): (string | number)[] {
    return [
      side,
      side.length,
      mailboxId(this.#randomBytes),
      this.#mb(appid, ''),
      this.#limits.maxNameplatesPerApp,
      this.#limits.maxMailboxesPerApp,
      this.#relayId,
    ];
  }

  claimNameplate(appid: string, name: string, side: string, now: number): Promise<string> {
    return this.#claim(appid, name, side, now);
  }

  /** Claim `name` for `side` and open its mailbox, in one script; with `fresh`, only if nobody holds it yet (allocation). */
  async #claim(appid: string, name: string, side: string, now: number, fresh = false): Promise<string> {
    const [status, mailbox, crowded] = (await this.#run(
      'claim',
      appid,
      now,
      [this.#nps(appid), this.#mbs(appid), this.#np(appid, name)],
      [...this.#claimArgs(appid, side), name.length, fresh ? '1' : '0', name],
    )) as [string, string?, number?];
    if (status !== 'ok') throw this.#refusal(status);
    if (crowded) throw new StoreCrowdedError();
    return mailbox!;
  }

  async releaseNameplate(appid: string, name: string, side: string, now: number): Promise<void> {
    await this.#run(
      'release',
      appid,
      now,
      [this.#np(appid, name), this.#nps(appid), this.#freed(appid)],
      [side, name, NAMEPLATE_REUSE_MS, NAMEPLATE_REUSE_MAX],
    );
  }

  async openMailbox(appid: string, id: string, side: string, now: number): Promise<StoredMessage[]> {
    const k = mailboxKey(appid, id);
    const heard = new Map<number, StoredMessage>();
    let opening = this.#opening.get(k);
    if (!opening) this.#opening.set(k, (opening = new Set()));
    opening.add(heard);
    let answer: [string, number?, ...string[]];
    try {
      answer = (await this.#run(
        'open',
        appid,
        now,
        [this.#mb(appid, id), this.#msgs(appid, id), this.#mbs(appid)],
        [id, id.length, side, side.length, this.#limits.maxMailboxesPerApp, this.#relayId],
      )) as typeof answer;
    } finally {
      opening.delete(heard);
      if (opening.size === 0) this.#opening.delete(k);
    }
    const [status, crowded, ...stored] = answer;
    if (status !== 'ok') throw this.#refusal(status);
    if (crowded) throw new StoreCrowdedError();
    const messages = stored.map((m) => JSON.parse(m) as StoredMessage);
    for (let next = heard.get(messages.length); next; next = heard.get(messages.length)) messages.push(next);
    return messages;
  }

  async addMessage(appid: string, id: string, message: StoredMessage, now: number): Promise<void> {
    const [status] = (await this.#run(
      'add',
      appid,
      now,
      [this.#mb(appid, id), this.#msgs(appid, id)],
      [JSON.stringify(message), messageBytes(message), this.#limits.maxMessagesPerMailbox, this.#relayId, `${this.#ns}:adds:`, id],
    )) as [string, number?];
    if (status !== 'ok') throw this.#refusal(status);
  }

  async closeMailbox(appid: string, id: string, side: string, mood: string | undefined): Promise<boolean> {
    const gone = await this.#run(
      'close',
      appid,
      0,
      [this.#mb(appid, id), this.#msgs(appid, id), this.#mbs(appid)],
      [side, mood === undefined ? '0' : '1', mood ?? '', mood?.length ?? 0, id],
    );
    return gone === 1;
  }

  async touchMailboxes(appid: string, ids: string[], now: number): Promise<void> {
    if (ids.length > 0) await this.#run('touch', appid, now, [], [this.#mb(appid, ''), ...ids]);
  }

  prune(before: number): Promise<{ appid: string; mailbox: string }[]> {
    return this.#serial(async () => {
      const removed: { appid: string; mailbox: string }[] = [];
      for (const appid of await this.#redis.smembers(this.#apps)) {
        const gone = new Set<string>();
        for (const id of await this.#redis.smembers(this.#mbs(appid))) {
          const stale = await this.#transact([this.#mb(appid, id)], ([raw], multi) => {
            const record = raw ? (JSON.parse(raw) as MailboxRecord) : undefined;
            if (record && record.updated > before) return false;
            multi
              .del(this.#mb(appid, id), this.#msgs(appid, id))
              .srem(this.#mbs(appid), id)
              .decrby(this.#bytes, record?.bytes ?? 0);
            return true;
          });
          if (stale) {
            gone.add(id);
            removed.push({ appid, mailbox: id });
          }
        }
        for (const name of await this.#redis.smembers(this.#nps(appid))) {
          await this.#transact([this.#np(appid, name)], ([raw], multi) => {
            const record = raw ? (JSON.parse(raw) as NameplateRecord) : undefined;
            if (record && !gone.has(record.mailbox)) return;
            multi
              .del(this.#np(appid, name))
              .srem(this.#nps(appid), name)
              .decrby(this.#bytes, record?.bytes ?? 0);
          });
        }
        await this.#forgetIfEmpty(appid);
      }
      return removed;
    });
  }

  /** Drop an appid with no nameplates and no mailboxes from the index (and from the appid quota). */
  async #forgetIfEmpty(appid: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      // Watching both sets: a claim through another relay meanwhile makes EXEC fail, and we look again.
      await this.#redis.watch(this.#nps(appid), this.#mbs(appid));
      const [nps, mbs] = await Promise.all([this.#redis.scard(this.#nps(appid)), this.#redis.scard(this.#mbs(appid))]);
      if (nps > 0 || mbs > 0) {
        await this.#redis.unwatch();
        return;
      }
      if ((await this.#redis.multi().srem(this.#apps, appid).exec()) !== null) return;
    }
  }

  async stats(): Promise<StoreStats> {
    const appids = await this.#redis.smembers(this.#apps);
    let nameplates = 0;
    let mailboxes = 0;
    for (const appid of appids) {
      nameplates += await this.#redis.scard(this.#nps(appid));
      mailboxes += await this.#redis.scard(this.#mbs(appid));
    }
    return { appids: appids.length, nameplates, mailboxes, bytes: Number((await this.#redis.get(this.#bytes)) ?? 0) };
  }

  /**
   * Hear `add`s made through other relays to this mailbox (ours reach our clients directly): those
   * made after one of our clients claimed or opened it (the scripts name this relay in its record).
   * Resolves, once this relay's channel is subscribed, with the function that stops listening.
   */
  async watch(appid: string, id: string, onMessage: (m: StoredMessage, index: number) => void): Promise<() => Promise<void>> {
    await this.#subscribed;
    const k = mailboxKey(appid, id);
    let set = this.#watchers.get(k);
    if (!set) this.#watchers.set(k, (set = new Set()));
    set.add(onMessage);
    return async () => {
      const current = this.#watchers.get(k);
      if (current?.delete(onMessage) && current.size === 0) this.#watchers.delete(k);
    };
  }

  /** An add through another relay: `[index, appid, mailbox, message]` (ADD's script). */
  #onAdded(text: string): void {
    let added: [number, string, string, StoredMessage];
    try {
      added = JSON.parse(text) as typeof added;
    } catch {
      return;
    }
    const [index, appid, id, message] = added;
    const k = mailboxKey(appid, id);
    for (const heard of this.#opening.get(k) ?? []) heard.set(index, message);
    for (const w of this.#watchers.get(k) ?? []) w(message, index);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
    await this.#sub.unsubscribe(this.#channel).catch(() => {});
  }
}

const mailboxKey = (appid: string, id: string) => `${appid}\0${id}`;
