/**
 * A W3C RTCDataChannel (the browser's, or @roamhq/wrtc's in Node) as a {@link Transport}: the data
 * channel is reliable and ordered by default and frames messages itself; backpressure waits for
 * `bufferedamountlow` once more than `highWaterMark` bytes are queued.
 * @module
 */
import type { Transport, TransportEvents } from '../effects/transport.js';
import type { RtcDataChannel } from '../effects/rtc.js';
import { TransportClosedError, TooLargeError } from '../errors.js';
import { TransportEventHub } from '../effects/transportEvents.js';

/** Options of the WebRTC transport. */
export interface WebRtcTransportOptions {
  /** Bytes queued in the data channel before `send` waits (default 1 MiB). */
  highWaterMark?: number;
  /** Largest frame (default 256 KiB: what browsers reliably carry in one message). */
  maxFrameBytes?: number;
  /** Called once after the transport closed, e.g. to close the peer connection. */
  onClose?(): void;
}

/** The DISCOVER session's `openDirectTransport` (a `DirectTransportFactory`): a data channel as a WebRtcTransport. */
export const openWebRtcTransport = (dc: RtcDataChannel, options: { onClose(): void }): Transport => new WebRtcTransport(dc, options);

/** A {@link Transport} on an open `RTCDataChannel`, waiting on `bufferedamountlow` for backpressure. */
export class WebRtcTransport implements Transport {
  readonly maxFrameBytes: number;
  readonly #dc: RtcDataChannel;
  readonly #high: number;
  readonly #events = new TransportEventHub();
  readonly #options: WebRtcTransportOptions;
  closed = false;

  constructor(dc: RtcDataChannel, options: WebRtcTransportOptions = {}) {
    this.#dc = dc;
    this.#options = options;
    this.#high = options.highWaterMark ?? 1024 * 1024;
    this.maxFrameBytes = options.maxFrameBytes ?? 256 * 1024;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = this.#high / 2;
    dc.onmessage = (ev) => {
      const data = ev.data as ArrayBuffer | ArrayBufferView | string;
      const frame =
        typeof data === 'string'
          ? new TextEncoder().encode(data)
          : data instanceof ArrayBuffer
            ? new Uint8Array(data)
            : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      this.#events.message(frame);
    };
    dc.onclose = () => this.#shut('data channel closed');
    dc.onerror = () => this.#shut('data channel error');
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.closed || this.#dc.readyState !== 'open') throw new TransportClosedError(this.closed ? 'closed' : this.#dc.readyState);
    if (frame.length > this.maxFrameBytes) throw new TooLargeError('frame', frame.length, this.maxFrameBytes);
    this.#dc.send(frame.slice());
    while (!this.closed && this.#dc.bufferedAmount > this.#high) await this.#drained();
    if (this.closed) throw new TransportClosedError();
  }

  /**
   * Resolves once the queue fell to the low-water mark. Listens for `bufferedamountlow` and also looks
   * every 25 ms: some implementations (@roamhq/wrtc among them) do not dispatch that event to
   * addEventListener listeners, and a missed event must not stall the sender forever.
   */
  #drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#dc.removeEventListener('bufferedamountlow', done);
        resolve();
      };
      const look = () => {
        if (this.closed || this.#dc.bufferedAmount <= this.#dc.bufferedAmountLowThreshold) done();
        else timer = setTimeout(look, 25);
      };
      this.#dc.addEventListener('bufferedamountlow', done);
      timer = setTimeout(look, 25);
    });
  }

  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void {
    return this.#events.on(event, handler);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    try {
      this.#dc.close();
    } catch {
      // already closing
    }
    this.#shut(reason);
  }

  #shut(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#events.close(reason);
    this.#options.onClose?.();
  }
}
