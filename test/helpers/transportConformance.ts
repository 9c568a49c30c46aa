/**
 * One suite for every {@link Transport} implementation (memory link, relayed, WebRTC, PeerJS), in the
 * style of automerge-repo's adapter suites: ordering, frames at the size bound and past it,
 * backpressure, close from either side, and, where the channel has its own seal, tampered and
 * replayed frames. Each implementation file calls `runTransportTests` with a factory of connected pairs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '../../src/effects/transport.js';
import { TransportClosedError, TooLargeError } from '../../src/errors.js';

export interface TransportPair {
  a: Transport;
  b: Transport;
  /** Hooks into the a → b wire, for channels that seal their frames themselves. */
  wire?: {
    /** Flip one bit of the next frame a sends, as a man in the middle would. */
    tamperNext(): void;
    /** Deliver the last frame a sent once more. */
    replayLast(): void;
  };
  /**
   * Bytes `a`'s transport holds queued, where it can say (a data channel's `bufferedAmount`). Then the
   * backpressure case bounds that queue; otherwise it bounds bytes sent and not yet received, which
   * in one process also counts the receiver's unprocessed events.
   */
  queuedAtA?(): number;
  /** Release whatever the pair holds (sockets, peer connections, relays). */
  dispose?(): Promise<void> | void;
}

export interface TransportTestOptions {
  /**
   * Bytes that may be sent (send resolved) but not yet received: backpressure must keep the sender
   * within this, whatever the receiver's pace. The suite pushes four times as much.
   */
  maxBytesInFlight: number;
  /** Why the tamper and replay cases do not apply, when the pair has no `wire` (printed). */
  noWire?: string;
}

/** Frame `i` of a stream: its index in the first four bytes, then filler of a size that varies. */
function frame(i: number, size: number): Uint8Array {
  const f = new Uint8Array(Math.max(4, size)).fill(i & 0xff);
  new DataView(f.buffer).setUint32(0, i);
  return f;
}
const indexOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(0);

/** Resolves with the frames `end` receives, once `count` have arrived. */
function collect(end: Transport, count: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve) => {
    const off = end.on('message', (f) => {
      got.push(f.slice());
      if (got.length === count) (off(), resolve(got));
    });
  });
}

const closedOnce = (end: Transport) =>
  new Promise<string[]>((resolve) => {
    const reasons: string[] = [];
    end.on('close', (reason) => {
      reasons.push(reason);
      // Another close after this one would land in the same array before the test looks.
      queueMicrotask(() => resolve(reasons));
    });
  });

export function runTransportTests(name: string, connect: () => Promise<TransportPair>, options: TransportTestOptions): void {
  describe(`Transport conformance: ${name}`, () => {
    let pair: TransportPair | undefined;
    const open = async () => (pair = await connect());
    afterEach(async () => {
      pair?.a.close('test over');
      pair?.b.close('test over');
      await pair?.dispose?.();
      pair = undefined;
    });

    it('delivers every frame once, in order, in both directions at once', async () => {
      const { a, b } = await open();
      const sizes = Array.from({ length: 300 }, (_, i) => 4 + ((i * 7919) % 3000));
      const atB = collect(b, sizes.length);
      const atA = collect(a, sizes.length);
      await Promise.all([
        (async () => {
          for (const [i, size] of sizes.entries()) await a.send(frame(i, size));
        })(),
        (async () => {
          for (const [i, size] of sizes.entries()) await b.send(frame(i, size));
        })(),
      ]);
      for (const got of [await atB, await atA]) {
        expect(got.map(indexOf)).toEqual(sizes.map((_, i) => i));
        expect(got.map((f) => f.length)).toEqual(sizes);
      }
    });

    it('carries a frame of exactly maxFrameBytes intact and refuses one byte more with TooLargeError', async () => {
      const { a, b } = await open();
      const big = frame(7, a.maxFrameBytes);
      for (let i = 4; i < big.length; i++) big[i] = (i * 31) & 0xff;
      const got = collect(b, 1);
      await a.send(big);
      expect((await got)[0]).toEqual(big);
      await expect(a.send(new Uint8Array(a.maxFrameBytes + 1))).rejects.toBeInstanceOf(TooLargeError);
      // The refusal did not hurt the channel.
      const after = collect(b, 1);
      await a.send(frame(8, 16));
      expect(indexOf((await after)[0]!)).toBe(8);
    });

    it(`backpressure: never more than ${options.maxBytesInFlight} bytes in flight`, async () => {
      const { a, b, queuedAtA } = await open();
      const size = Math.min(a.maxFrameBytes, 64 * 1024);
      const count = Math.ceil((4 * options.maxBytesInFlight) / size);
      let received = 0;
      let worst = 0;
      const all = collect(b, count);
      b.on('message', (f) => (received += f.length));
      let sent = 0;
      for (let i = 0; i < count; i++) {
        await a.send(frame(i, size));
        sent += size;
        worst = Math.max(worst, queuedAtA ? queuedAtA() : sent - received);
      }
      expect((await all).map(indexOf)).toEqual(Array.from({ length: count }, (_, i) => i));
      const what = queuedAtA ? 'queued by the sender' : 'sent and not yet received';
      console.log(`${name}: ${sent} bytes sent, at most ${worst} ${what} (bound ${options.maxBytesInFlight})`);
      expect(worst).toBeLessThanOrEqual(options.maxBytesInFlight);
    });

    for (const side of ['a', 'b'] as const) {
      it(`close from ${side === 'a' ? 'this' : 'the other'} side: both ends close once, and sends reject typed`, async () => {
        const p = await open();
        const [closer, other] = side === 'a' ? [p.a, p.b] : [p.b, p.a];
        const closes = [closedOnce(closer), closedOnce(other)];
        closer.close('done here');
        const [mine, theirs] = await Promise.all(closes);
        expect(mine).toHaveLength(1);
        expect(theirs).toHaveLength(1);
        expect(closer.closed && other.closed).toBe(true);
        await expect(closer.send(frame(0, 8))).rejects.toBeInstanceOf(TransportClosedError);
        await expect(other.send(frame(0, 8))).rejects.toBeInstanceOf(TransportClosedError);
      });
    }

    if (options.noWire) {
      it(`tampered and replayed frames: not applicable (${options.noWire})`, () => {
        console.log(`${name}: tamper/replay cases not applicable: ${options.noWire}`);
      });
      return;
    }

    it('a tampered frame is never delivered; the transport ends rather than skip it', async () => {
      const { a, b, wire } = await open();
      const got: number[] = [];
      b.on('message', (f) => got.push(indexOf(f)));
      const closed = closedOnce(b);
      await a.send(frame(1, 32));
      wire!.tamperNext();
      await a.send(frame(2, 32));
      await a.send(frame(3, 32));
      // The frame after the hole must not be delivered either: a Transport never skips a frame.
      await closed;
      expect(got).toEqual([1]);
    });

    it('a replayed frame is delivered once', async () => {
      const { a, b, wire } = await open();
      const got: number[] = [];
      b.on('message', (f) => got.push(indexOf(f)));
      const first = collect(b, 1);
      await a.send(frame(1, 32));
      await first;
      wire!.replayLast();
      // A sentinel after the replay: the next frame in must be it, not a second copy of frame 1.
      const sentinel = collect(b, 1);
      await a.send(frame(2, 32));
      await sentinel;
      expect(got).toEqual([1, 2]);
      expect(b.closed).toBe(false);
    });
  });
}
