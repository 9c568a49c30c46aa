/** Sealed signalling and the relayed transport, attacked directly: every trick is a typed rejection. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../src/crypto/bytes.js';
import { seal } from '../src/crypto/secretbox.js';
import { RelayedTransport } from '../src/discover/relayedTransport.js';
import { SignalOpener, SignalSealer, signalKey } from '../src/discover/signal.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { SignalRejectedError } from '../src/errors.js';
import { FC_RUNS } from './helpers/runs.js';
import { Branches } from './helpers/branches.js';

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SignalRejectedError);
    return (e as SignalRejectedError).data.reason;
  }
  return 'accepted';
};

describe('sealed signalling', () => {
  const key = signalKey(cryptoRandomBytes(32));

  it('accepts the honest exchange and rejects replay, reflection, misaddressing, forgery, garbage', () => {
    const a = new SignalSealer(key, A, cryptoRandomBytes);
    const b = new SignalSealer(key, B, cryptoRandomBytes);
    const atB = new SignalOpener(key, B);
    const atA = new SignalOpener(key, A);
    const hello = a.seal(null, 'hello');
    expect(atB.open(hello).sid).toBe(A);
    expect(reason(() => atB.open(hello))).toBe('replay');
    const reply = b.seal(A, 'hello');
    expect(atA.open(reply).to).toBe(A);
    expect(reason(() => atB.open(reply))).toBe('reflection'); // B's own message played back to B
    const offer = a.seal(B, 'offer', { sdp: 'x' });
    const oldSession = new SignalOpener(key, 'cccccccccccccccc');
    expect(reason(() => oldSession.open(offer))).toBe('misaddressed');
    expect(reason(() => atB.open(a.seal(null, 'offer')))).toBe('misaddressed'); // only hellos may be unaddressed
    const other = new SignalSealer(signalKey(cryptoRandomBytes(32)), A, cryptoRandomBytes);
    expect(reason(() => atB.open(other.seal(B, 'offer')))).toBe('forged');
    expect(reason(() => atB.open('!!!'))).toBe('forged');
    const bytes = fromBase64(offer);
    bytes[30]! ^= 1;
    expect(reason(() => atB.open(toBase64(bytes)))).toBe('forged');
    expect(reason(() => atB.open(toBase64(bytes.subarray(0, 20))))).toBe('forged');
    expect(atB.open(offer).kind).toBe('offer'); // the honest one still goes through
  });

  it('never throws anything but SignalRejectedError on random blobs', () => {
    const atB = new SignalOpener(key, B);
    const outcomes = new Branches('signal opener on random blobs', ['forged', 'malformed'] as const);
    // Random content sealed under the right key gets past the MAC: the shape checks must hold too.
    const sealedGarbage = fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.json().map(utf8)).map((bytes) => toBase64(seal(key, bytes, cryptoRandomBytes)));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 }).map(toBase64), sealedGarbage), (blob) => {
        const why = reason(() => atB.open(blob));
        expect(['forged', 'malformed']).toContain(why);
        outcomes.hit(why as 'forged' | 'malformed');
      }),
      { numRuns: FC_RUNS },
    );
    outcomes.check();
  });
});

describe('relayed transport', () => {
  it('backpressure: send waits once the window is full and resumes on the peer’s acks', async () => {
    const { a, b, wire } = pair(32);
    let received = 0;
    b.on('message', () => received++);
    let done = 0;
    const sends = Array.from({ length: 40 }, (_, i) => a.send(Uint8Array.of(i)).then(() => void done++));
    await Promise.all(sends.slice(0, 32));
    // One turn of the event loop runs every pending continuation: a 33rd send would have gone out by now.
    await new Promise((r) => setImmediate(r));
    expect(wire.toB.length).toBe(32); // the window: nothing more went out
    expect(done).toBe(32);
    for (const blob of wire.toB.splice(0)) b.receive(blob);
    expect(received).toBe(32);
    expect(wire.toA.length).toBe(2); // acks for 16 and 32
    for (const blob of wire.toA.splice(0)) a.receive(blob);
    await Promise.all(sends);
    expect(done).toBe(40);
    for (const blob of wire.toB.splice(0)) b.receive(blob);
    expect(received).toBe(40);
  });

  // Keepalive off: these cases count the frames on the wire (the keepalive's own acks are tested in
  // presence-vanish-process.test.ts and presence-browser.test.ts).
  function pair(window?: number) {
    const contactKey = cryptoRandomBytes(32);
    const wire: { toB: string[]; toA: string[] } = { toB: [], toA: [] };
    const a = new RelayedTransport({
      contactKey,
      ownSid: A,
      peerSid: B,
      randomBytes: cryptoRandomBytes,
      transmit: (b) => wire.toB.push(b),
      window,
      keepaliveMs: 0,
    });
    const b = new RelayedTransport({
      contactKey,
      ownSid: B,
      peerSid: A,
      randomBytes: cryptoRandomBytes,
      transmit: (x) => wire.toA.push(x),
      window,
      keepaliveMs: 0,
    });
    return { a, b, wire, contactKey };
  }

  it('delivers in order and refuses replays, reordering, reflection and other sessions', async () => {
    const { a, b, wire, contactKey } = pair();
    const got: number[] = [];
    b.on('message', (f) => got.push(f[0]!));
    for (let i = 1; i <= 3; i++) await a.send(Uint8Array.of(i));
    b.receive(wire.toB[0]!);
    expect(reason(() => b.receive(wire.toB[0]!))).toBe('replay');
    b.receive(wire.toB[1]!);
    b.receive(wire.toB[2]!);
    expect(got).toEqual([1, 2, 3]);
    // A gap (a lost frame) closes the channel instead of delivering around the hole.
    const closed: string[] = [];
    b.on('close', (r) => closed.push(r));
    await a.send(Uint8Array.of(4));
    await a.send(Uint8Array.of(5));
    expect(reason(() => b.receive(wire.toB[4]!))).toBe('malformed');
    expect(closed).toEqual(['relayed frame 4 was lost']);
    expect(b.closed).toBe(true);
    wire.toB.splice(3, 2);
    expect(reason(() => a.receive(wire.toB[0]!))).toBe('forged'); // reflected back at the sender
    const later = new RelayedTransport({
      contactKey,
      ownSid: B,
      peerSid: 'dddddddddddddddd',
      randomBytes: cryptoRandomBytes,
      transmit: () => {},
      keepaliveMs: 0,
    });
    expect(reason(() => later.receive(wire.toB[0]!))).toBe('forged'); // another session's keys
    // Nonces are fresh: the same frame twice seals differently.
    await a.send(Uint8Array.of(9));
    await a.send(Uint8Array.of(9));
    expect(wire.toB[3]).not.toBe(wire.toB[4]);
  });
});
