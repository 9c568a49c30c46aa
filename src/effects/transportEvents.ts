/**
 * The `message` / `close` events every {@link Transport} implementation offers, in one place.
 * @module
 */
import type { TransportEvents } from './transport.js';

export class TransportEventHub {
  readonly #message = new Set<TransportEvents['message']>();
  readonly #close = new Set<TransportEvents['close']>();

  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void {
    const set = (event === 'message' ? this.#message : this.#close) as Set<TransportEvents[E]>;
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
