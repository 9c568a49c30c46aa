/**
 * Where DISCOVER's topic membership lives and how a frame reaches a peer. One relay process keeps it
 * in memory ({@link MemoryDiscoveryHub}); several relays share it through Redis
 * (`RedisDiscoveryHub`), so two devices on different relays still find each other.
 * @module
 */

/** What a hub hands to one joined peer. */
export type HubFrame =
  | { type: 'joined' | 'left'; topic: string; peer: string }
  | { type: 'message'; topic: string; from: string; to: string; kind: 'signal' | 'data'; blob: string };

/** How a hub hands frames to one joined peer (its connection's send). */
export type HubDelivery = (frame: HubFrame) => void;

/** Where DISCOVER's topics and their peers live: one process (`MemoryDiscoveryHub`) or shared through Redis. */
export interface DiscoveryHub {
  /**
   * Join `topic` as `peer`; `deliver` then receives `joined`/`left` of the others and messages
   * addressed to `peer`. Resolves with the peers already there, or `'full'` at `maxPeers`.
   */
  join(topic: string, peer: string, deliver: HubDelivery, maxPeers: number): Promise<string[] | 'full'>;
  /** Leave `topic`; the others receive `left`. */
  leave(topic: string, peer: string): Promise<void>;
  /** Forward to `to` on `topic`. Resolves false when there is no such peer. */
  send(topic: string, from: string, to: string, kind: 'signal' | 'data', blob: string): Promise<boolean>;
  /** Forget every topic when the relay stops. */
  close(): Promise<void>;
}

/** One process: a map from topic to its peers. */
export class MemoryDiscoveryHub implements DiscoveryHub {
  readonly #topics = new Map<string, Map<string, HubDelivery>>();

  async join(topic: string, peer: string, deliver: HubDelivery, maxPeers: number): Promise<string[] | 'full'> {
    let members = this.#topics.get(topic);
    if (!members) this.#topics.set(topic, (members = new Map()));
    if (members.size >= maxPeers) return 'full';
    const others = [...members.keys()];
    members.set(peer, deliver);
    for (const other of others) members.get(other)!({ type: 'joined', topic, peer });
    return others;
  }

  async leave(topic: string, peer: string): Promise<void> {
    const members = this.#topics.get(topic);
    if (!members?.delete(peer)) return;
    if (members.size === 0) this.#topics.delete(topic);
    for (const deliver of members.values()) deliver({ type: 'left', topic, peer });
  }

  async send(topic: string, from: string, to: string, kind: 'signal' | 'data', blob: string): Promise<boolean> {
    const deliver = this.#topics.get(topic)?.get(to);
    deliver?.({ type: 'message', topic, from, to, kind, blob });
    return !!deliver;
  }

  async close(): Promise<void> {
    this.#topics.clear();
  }
}
