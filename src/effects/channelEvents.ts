/**
 * The `message` / `close` events every {@link Channel} implementation offers, in one place.
 * @module
 */
import type { ChannelEvents } from './channel.js';

export class ChannelEventHub {
  readonly #message = new Set<ChannelEvents['message']>();
  readonly #close = new Set<ChannelEvents['close']>();

  on<E extends keyof ChannelEvents>(event: E, handler: ChannelEvents[E]): () => void {
    const set = (event === 'message' ? this.#message : this.#close) as Set<ChannelEvents[E]>;
    set.add(handler);
    return () => set.delete(handler);
  }

  message(frame: Uint8Array): void {
    for (const h of this.#message) h(frame);
  }

  close(reason: string): void {
    for (const h of this.#close) h(reason);
  }
}
