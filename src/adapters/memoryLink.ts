/**
 * Two {@link Transport} ends joined in memory, for tests. In `manual` mode every frame waits in flight
 * until the test delivers, drops, duplicates or reorders it, or cuts the link; in `auto` mode frames
 * are delivered in order on the microtask queue. Backpressure: `send` waits while more than
 * `highWaterMark` frames are in flight in that direction.
 * @module
 */
import type { Transport, TransportEvents } from '../effects/transport.js';
import { TransportClosedError, TooLargeError } from '../errors.js';
import { TransportEventHub } from '../effects/transportEvents.js';

/** How a memory link delivers: by hand or automatically, its frame size and buffer. */
export interface MemoryLinkOptions {
  mode?: 'auto' | 'manual';
  maxFrameBytes?: number;
  highWaterMark?: number;
}

/** A frame on its way through a {@link MemoryLink}, and the end it goes to. */
export interface InFlight {
  to: End;
  frame: Uint8Array;
}

/** One end of a {@link MemoryLink} (`link.a` or `link.b`): a {@link Transport} whose frames go through the link. */
export class End implements Transport {
  readonly #link: MemoryLink;
  readonly #events = new TransportEventHub();
  closed = false;
  peer!: End;
  readonly maxFrameBytes: number;
  /** Sends waiting for the link to drain below `highWaterMark`. */
  readonly waiters: (() => void)[] = [];

  constructor(link: MemoryLink, maxFrameBytes: number) {
    this.#link = link;
    this.maxFrameBytes = maxFrameBytes;
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.closed) throw new TransportClosedError();
    if (frame.length > this.maxFrameBytes) throw new TooLargeError('frame', frame.length, this.maxFrameBytes);
    this.#link.enqueue({ to: this.peer, frame: frame.slice() });
    while (!this.closed && this.#link.inFlightTo(this.peer) > this.#link.highWaterMark) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closed) throw new TransportClosedError();
  }

  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void {
    return this.#events.on(event, handler);
  }

  close(reason = 'closed'): void {
    this.#link.cut(reason);
  }

  /** Hand a frame that arrived to this end's `message` listeners (the link does, on delivery). */
  deliver(frame: Uint8Array): void {
    if (this.closed) return;
    this.#events.message(frame);
  }

  /** Close this end for `reason`: pending sends fail, `close` listeners hear it (the link does, on a cut). */
  shut(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    this.#events.close(reason);
  }
}

/** Two connected in-memory {@link Transport} ends (`a`, `b`) for tests: delivery by hand or automatic, with drops, duplicates, reordering and cuts. */
export class MemoryLink {
  readonly a: Transport;
  readonly b: Transport;
  readonly highWaterMark: number;
  readonly #mode: 'auto' | 'manual';
  readonly #inFlight: InFlight[] = [];
  readonly #ends: [End, End];
  /** Bytes delivered, for benchmarks. */
  bytesDelivered = 0;

  constructor(options: MemoryLinkOptions = {}) {
    this.#mode = options.mode ?? 'auto';
    this.highWaterMark = options.highWaterMark ?? 64;
    const max = options.maxFrameBytes ?? 256 * 1024;
    const a = new End(this, max);
    const b = new End(this, max);
    a.peer = b;
    b.peer = a;
    this.#ends = [a, b];
    this.a = a;
    this.b = b;
  }

  get closed(): boolean {
    return this.#ends[0].closed;
  }

  /** Frames in flight, both directions. */
  get pending(): number {
    return this.#inFlight.length;
  }

  /** Frames in flight towards `end`. */
  inFlightTo(end: End): number {
    return this.#inFlight.filter((f) => f.to === end).length;
  }

  /** Put a frame in flight (an end's `send` does); `auto` mode delivers it on the next microtask. */
  enqueue(item: InFlight): void {
    this.#inFlight.push(item);
    if (this.#mode === 'auto') queueMicrotask(() => this.deliver(0));
  }

  #release(): void {
    for (const end of this.#ends) if (this.inFlightTo(end.peer) <= this.highWaterMark) for (const w of end.waiters.splice(0)) w();
  }

  /** Deliver the in-flight frame at `index` (0 = oldest). Returns false if there is none. */
  deliver(index = 0): boolean {
    const [item] = this.#inFlight.splice(index, 1);
    if (!item) return false;
    this.bytesDelivered += item.frame.length;
    item.to.deliver(item.frame);
    this.#release();
    return true;
  }

  /** Lose the in-flight frame at `index`. */
  drop(index = 0): boolean {
    const [item] = this.#inFlight.splice(index, 1);
    this.#release();
    return item !== undefined;
  }

  /** Deliver a copy of the frame at `index` now and keep the original in flight. */
  duplicate(index = 0): boolean {
    const item = this.#inFlight[index];
    if (!item) return false;
    item.to.deliver(item.frame.slice());
    return true;
  }

  /** Close both ends (a partition or a crash); frames in flight are lost. */
  cut(reason = 'link cut'): void {
    this.#inFlight.length = 0;
    for (const end of this.#ends) end.shut(reason);
  }
}
