/**
 * DISCOVER's topics shared by several relay processes through Redis: a device announced on relay A
 * finds and signals a device announced on relay B.
 *
 * - Membership: a hash `<ns>:members:<topic>` (peer → relay id), changed by Lua scripts so the
 *   capacity check and the insert are one step.
 * - Delivery: every frame for a topic (`joined`, `left`, `message`) is published on `<ns>:topic:<topic>`;
 *   each relay subscribes to the topics its own clients joined and hands frames to its local peers.
 *   All frames go through Redis, also between two peers on the same relay, so they keep one order.
 * - Liveness: each relay refreshes `<ns>:relay:<id>` (expiring after `relayTtlMs`). Members of a relay
 *   whose key lapsed (it crashed) are dropped the next time anyone joins or sends on that topic.
 * @module
 */
import type { Redis } from 'ioredis';
import type { DiscoveryHub, HubDelivery, HubFrame } from './discoveryHub.js';

// KEYS[1] members hash. ARGV: peer, relay id, max peers, relay-key prefix.
const JOIN = `
local all = redis.call('HGETALL', KEYS[1])
local others = {}
for i = 1, #all, 2 do
  if redis.call('EXISTS', ARGV[4] .. all[i + 1]) == 1 then
    table.insert(others, all[i])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if #others >= tonumber(ARGV[3]) then return {'full'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
table.insert(others, 1, 'ok')
return others`;

// KEYS[1] members hash. ARGV: peer, relay-key prefix. 1 when `peer` is there on a live relay.
const PRESENT = `
local relay = redis.call('HGET', KEYS[1], ARGV[1])
if not relay then return 0 end
if redis.call('EXISTS', ARGV[2] .. relay) == 1 then return 1 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 0`;

/** What a `RedisDiscoveryHub` needs: two Redis connections and this relay's id. */
export interface RedisDiscoveryHubOptions {
  /** For commands. */
  redis: Redis;
  /** A second connection, used only for SUBSCRIBE (Redis reserves a subscribed connection). */
  subscriber: Redis;
  /** This relay's id: unique among the relays sharing the Redis. */
  relayId: string;
  namespace?: string;
  relayTtlMs?: number;
}

/** DISCOVER's topics shared through Redis, so peers on different relays find each other (scale-out). */
export class RedisDiscoveryHub implements DiscoveryHub {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #relayId: string;
  readonly #ns: string;
  readonly #ttl: number;
  /** topic → local peer → delivery */
  readonly #local = new Map<string, Map<string, HubDelivery>>();
  /** topic → its SUBSCRIBE, which every join on this relay waits for. */
  readonly #subscribed = new Map<string, Promise<unknown>>();
  readonly #heartbeat: NodeJS.Timeout;

  private constructor(o: RedisDiscoveryHubOptions) {
    this.#redis = o.redis;
    this.#sub = o.subscriber;
    this.#relayId = o.relayId;
    this.#ns = o.namespace ?? 'backchannel';
    this.#ttl = o.relayTtlMs ?? 15_000;
    this.#sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#onPublished(channel.toString(), message.toString()));
    this.#heartbeat = setInterval(
      () => {
        this.#alive().catch(() => {});
      },
      Math.max(100, Math.floor(this.#ttl / 3)),
    );
    this.#heartbeat.unref();
  }

  /** Register this relay as alive, then return the hub. */
  static async open(options: RedisDiscoveryHubOptions): Promise<RedisDiscoveryHub> {
    const hub = new RedisDiscoveryHub(options);
    await hub.#alive();
    return hub;
  }

  #alive(): Promise<unknown> {
    return this.#redis.set(this.#relayKey, '1', 'PX', this.#ttl);
  }

  get #relayKey(): string {
    return `${this.#ns}:relay:${this.#relayId}`;
  }
  #members(topic: string): string {
    return `${this.#ns}:members:${topic}`;
  }
  #channel(topic: string): string {
    return `${this.#ns}:topic:${topic}`;
  }

  #onPublished(channel: string, message: string): void {
    const prefix = `${this.#ns}:topic:`;
    if (!channel.startsWith(prefix)) return;
    const peers = this.#local.get(channel.slice(prefix.length));
    if (!peers) return;
    let frame: HubFrame;
    try {
      frame = JSON.parse(message) as HubFrame;
    } catch {
      return;
    }
    if (frame.type === 'message') peers.get(frame.to)?.(frame);
    else for (const [peer, deliver] of peers) if (peer !== frame.peer) deliver(frame);
  }

  async join(topic: string, peer: string, deliver: HubDelivery, maxPeers: number): Promise<string[] | 'full'> {
    let peers = this.#local.get(topic);
    if (!peers) {
      this.#local.set(topic, (peers = new Map()));
      this.#subscribed.set(topic, this.#sub.subscribe(this.#channel(topic)));
    }
    peers.set(peer, deliver);
    // Subscribed before we are visible to others, so no frame for us can pass unseen.
    await this.#subscribed.get(topic);
    const [status, ...others] = (await this.#redis.eval(
      JOIN,
      1,
      this.#members(topic),
      peer,
      this.#relayId,
      String(maxPeers),
      `${this.#ns}:relay:`,
    )) as string[];
    if (status === 'full') {
      await this.#forget(topic, peer);
      return 'full';
    }
    await this.#redis.publish(this.#channel(topic), JSON.stringify({ type: 'joined', topic, peer }));
    return others;
  }

  async leave(topic: string, peer: string): Promise<void> {
    if (!this.#local.get(topic)?.has(peer)) return;
    await this.#redis.hdel(this.#members(topic), peer);
    await this.#forget(topic, peer);
    await this.#redis.publish(this.#channel(topic), JSON.stringify({ type: 'left', topic, peer }));
  }

  async #forget(topic: string, peer: string): Promise<void> {
    const peers = this.#local.get(topic);
    if (!peers?.delete(peer) || peers.size > 0) return;
    this.#local.delete(topic);
    this.#subscribed.delete(topic);
    await this.#sub.unsubscribe(this.#channel(topic));
  }

  async send(topic: string, from: string, to: string, kind: 'signal' | 'data', blob: string): Promise<boolean> {
    const present = await this.#redis.eval(PRESENT, 1, this.#members(topic), to, `${this.#ns}:relay:`);
    if (present !== 1) return false;
    await this.#redis.publish(this.#channel(topic), JSON.stringify({ type: 'message', topic, from, to, kind, blob }));
    return true;
  }

  /** Stop the heartbeat and drop this relay's liveness key (its clients left already). */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#local.clear();
    this.#subscribed.clear();
    await this.#redis.del(this.#relayKey).catch(() => {});
  }
}
