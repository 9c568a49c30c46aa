/**
 * The relayed fallback: a {@link Transport} whose frames travel through the relay's topic routing,
 * end-to-end sealed. Each direction has its own key, derived from the contact key and both session
 * ids, so a frame cannot be reflected back or replayed into another session; inside the box a
 * sequence number must be exactly the next one, so nothing is replayed, dropped or reordered unseen.
 * Nonces are 24 random bytes per frame. The relay sees sizes and timing, nothing else.
 *
 * Backpressure: the receiver acknowledges every `ACK_EVERY` data frames (a sealed ack frame in the
 * same numbered stream), and `send` waits while `window` frames are unacknowledged, so a fast sender
 * never piles more than the window onto the relay (which drops clients that fall 8 MiB behind).
 *
 * Keepalive: a side acks once on opening and, whenever it sealed nothing for {@link RELAYED_KEEPALIVE_MS},
 * sends an ack of what it has received so far (an old peer takes a repeated one as the no-op it is). A peer seen doing so (an ack that acknowledges nothing new) and
 * then silent for {@link RELAYED_DEAD_MS} is gone — a device offline or frozen whose relay socket still
 * answers the relay's WebSocket pings (a browser's offline mode does) — and the transport closes.
 * @module
 */
import { concatBytes, fromBase64, toBase64, utf8 } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import type { Transport, TransportEvents } from '../effects/transport.js';
import type { RandomBytes } from '../effects/random.js';
import { TransportClosedError, SignalRejectedError, TooLargeError } from '../errors.js';
import { TransportEventHub } from '../effects/transportEvents.js';
import { systemClock, type Clock } from '../effects/clock.js';

/** The key a relayed transport seals with, derived from the contact key. */
export function relayKey(contactKey: Uint8Array, fromSid: string, toSid: string): Uint8Array {
  return deriveKey(contactKey, concatBytes(utf8('backchannel:discover:relay:v1:'), utf8(fromSid), utf8('>'), utf8(toSid)));
}

/** What a relayed transport takes: the contact key, both session ids and randomness. */
export interface RelayedTransportOptions {
  contactKey: Uint8Array;
  ownSid: string;
  peerSid: string;
  randomBytes: RandomBytes;
  /** Hand a sealed blob to the relay for the peer. */
  transmit(blob: string): void;
  /** Called once when the transport closes from our side (to tell the peer). */
  onClose?(reason: string): void;
  maxFrameBytes?: number;
  /** Data frames in flight before `send` waits for an ack (default 48: 3 MiB of 64 KiB frames; at least 32, twice the ack interval). */
  window?: number;
  /** {@link RELAYED_KEEPALIVE_MS}; 0: none (and no dead-peer check). */
  keepaliveMs?: number;
  /** {@link RELAYED_DEAD_MS}. */
  deadMs?: number;
  /** The keepalive's timers: the app's clock through the DISCOVER session (default: the system's, unref'd in Node). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** With nothing else sealed for this long, a keepalive goes (ms, on the injected clock: the app's, a SimulatedClock in tests). */
export const RELAYED_KEEPALIVE_MS = 5_000;
/** A peer that keeps alive and sent nothing for this long (ms) is gone: the transport closes. */
export const RELAYED_DEAD_MS = 25_000;

const DATA = 0;
const ACK = 1;
const ACK_EVERY = 16;

/** A {@link Transport} through the relay: sealed frames, per-direction keys, sequence numbers. */
export class RelayedTransport implements Transport {
  readonly maxFrameBytes: number;
  readonly #tx: Uint8Array;
  readonly #rx: Uint8Array;
  readonly #options: RelayedTransportOptions;
  readonly #events = new TransportEventHub();
  /** Frames sealed so far (data and acks share one numbered stream per direction). */
  #sealed = 0;
  /** Data frames sent, and how many of them the peer acknowledged. */
  #dataSent = 0;
  #acked = 0;
  #dataReceived = 0;
  #expected = 1;
  readonly #window: number;
  readonly #waiters: (() => void)[] = [];
  closed = false;
  /** Why it closed: what a send after that rejects with. */
  #closeReason = 'closed';
  /** Keepalive: frames sealed at the last tick, ticks with nothing from the peer, whether the peer keeps alive. */
  #sealedAtTick = 0;
  #silentTicks = 0;
  #peerKeepsAlive = false;
  #tick: unknown;

  constructor(options: RelayedTransportOptions) {
    this.#options = options;
    // Leave room for sealing and base64 within the relay's 128 KiB data blob limit.
    this.maxFrameBytes = options.maxFrameBytes ?? 64 * 1024;
    this.#tx = relayKey(options.contactKey, options.ownSid, options.peerSid);
    this.#rx = relayKey(options.contactKey, options.peerSid, options.ownSid);
    this.#window = Math.max(2 * ACK_EVERY, options.window ?? 48);
    const every = options.keepaliveMs ?? RELAYED_KEEPALIVE_MS;
    if (every > 0) this.#keepAlive(every, Math.ceil((options.deadMs ?? RELAYED_DEAD_MS) / every));
  }

  #keepAlive(every: number, deadTicks: number): void {
    const clock = this.#options.clock ?? systemClock;
    const tick = () => {
      if (this.closed) return;
      if (this.#peerKeepsAlive && ++this.#silentTicks >= deadTicks) return this.close(`the contact's device sent nothing for ${every * deadTicks} ms`);
      if (this.#sealed === this.#sealedAtTick) this.#transmitAck();
      this.#sealedAtTick = this.#sealed;
      this.#tick = clock.setTimeout(tick, every);
      (this.#tick as { unref?(): void } | undefined)?.unref?.();
    };
    this.#tick = clock.setTimeout(tick, every);
    (this.#tick as { unref?(): void } | undefined)?.unref?.();
    // At once, so the peer knows we keep alive even if we vanish in the first seconds (safe: the
    // peer opened its side before the signal that made us open ours, and both go the relay's one way).
    this.#transmitAck();
  }

  #transmitAck(): void {
    const ack = new Uint8Array(8);
    new DataView(ack.buffer).setBigUint64(0, BigInt(this.#dataReceived));
    this.#transmit(ACK, ack);
  }

  #transmit(type: number, body: Uint8Array): void {
    const header = new Uint8Array(9);
    new DataView(header.buffer).setBigUint64(0, BigInt(++this.#sealed));
    header[8] = type;
    this.#options.transmit(toBase64(seal(this.#tx, concatBytes(header, body), this.#options.randomBytes)));
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.closed) throw new TransportClosedError(this.#closeReason);
    if (frame.length > this.maxFrameBytes) throw new TooLargeError('frame', frame.length, this.maxFrameBytes);
    while (!this.closed && this.#dataSent - this.#acked >= this.#window) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.closed) throw new TransportClosedError(this.#closeReason);
    this.#dataSent++;
    this.#transmit(DATA, frame);
  }

  /** A sealed blob from the peer arrived through the relay. Throws SignalRejectedError on anything off. */
  receive(blob: string): void {
    if (this.closed) return;
    let plain: Uint8Array;
    try {
      plain = open(this.#rx, fromBase64(blob));
    } catch {
      throw new SignalRejectedError('forged', 'a relayed frame did not open under this session’s key');
    }
    if (plain.length < 9) throw new SignalRejectedError('malformed', 'relayed frame too short');
    const seq = Number(new DataView(plain.buffer, plain.byteOffset, 8).getBigUint64(0));
    if (seq < this.#expected) throw new SignalRejectedError('replay', `relayed frame ${seq}, expected ${this.#expected}`);
    if (seq > this.#expected) {
      // A frame went missing: a Transport promises every frame in order, so end it loudly rather than
      // carry on with a hole; the owner reconnects and SYNC resumes.
      this.shut(`relayed frame ${this.#expected} was lost`);
      throw new SignalRejectedError('malformed', `relayed frame ${seq}, expected ${this.#expected}: closing`);
    }
    this.#expected++;
    this.#silentTicks = 0;
    const body = plain.subarray(9);
    if (plain[8] === ACK) {
      if (body.length !== 8) throw new SignalRejectedError('malformed', 'relayed ack frame');
      const acked = Number(new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0));
      // Acks advance by ACK_EVERY; one that acknowledges nothing new is a keepalive: this peer keeps alive.
      if (acked <= this.#acked) this.#peerKeepsAlive = true;
      this.#acked = Math.max(this.#acked, acked);
      for (const w of this.#waiters.splice(0)) w();
      return;
    }
    this.#events.message(body);
    // Acknowledge only once the handler has taken the frame (and did not close the transport over it).
    if (++this.#dataReceived % ACK_EVERY === 0 && !this.closed) this.#transmitAck();
  }

  on<E extends keyof TransportEvents>(event: E, handler: TransportEvents[E]): () => void {
    return this.#events.on(event, handler);
  }

  /** Close from our side: tells the peer (through onClose) and our listeners. */
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.#options.onClose?.(reason);
    this.shut(reason);
  }

  /** The transport or the peer ended it. */
  shut(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#closeReason = reason;
    if (this.#tick !== undefined) (this.#options.clock ?? systemClock).clearTimeout(this.#tick);
    for (const w of this.#waiters.splice(0)) w();
    this.#events.close(reason);
  }
}
