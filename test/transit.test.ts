/**
 * The transit client's parts: keys and handshake lines byte-equal to the real magic-wormhole's
 * (computed by Debian's python3 with its `wormhole` module), records with counter nonces (never
 * repeated, replay/reorder/tamper refused, a bounded buffer), hint parsing that never throws, and
 * connectTransit between two of our clients through our transit relay and through the Debian one.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeTcpConnector } from '../src/adapters/nodeTcp.js';
import { toHex, utf8 } from '../src/crypto/bytes.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { CryptoError, TimeoutError, TooLargeError } from '../src/errors.js';
import { connectTransit } from '../src/wormhole/transitConnection.js';
import { mergeRelays, parseTransitHelper, relayHintsOf, transitMessage } from '../src/wormhole/transitHints.js';
import { deriveTransitKey, recordKeys, relayHandshake, transitHandshake } from '../src/wormhole/transitKeys.js';
import { counterNonce, RecordOpener, RecordSealer } from '../src/wormhole/transitRecords.js';
import { startTransitRelay, type TransitRelay } from '../server/transitRelay.js';
import { Branches } from './helpers/branches.js';
import { SYSTEM_PYTHON, startPythonTransitRelay } from './helpers/processes.js';
import { FC_RUNS } from './helpers/runs.js';

/** What magic-wormhole 0.12 itself derives from `key` (cmd_send.py, transit.py). */
function pythonTransit(wormholeKey: Uint8Array, side: string, records: string[]): Record<string, string> {
  const script = `
import sys, json
from binascii import hexlify, unhexlify
from nacl.secret import SecretBox
from wormhole.util import HKDF
from wormhole import transit
key = unhexlify(sys.argv[1])
tk = HKDF(key, 32, CTXinfo=b"lothar.com/wormhole/text-or-file-xfer/transit-key")
box = SecretBox(HKDF(tk, 32, CTXinfo=b"transit_record_sender_key"))
recs = [hexlify(box.encrypt(unhexlify(r), unhexlify("%048x" % i))).decode() for i, r in enumerate(json.loads(sys.argv[3]))]
print(json.dumps({
  "transit_key": hexlify(tk).decode(),
  "sender": transit.build_sender_handshake(tk).decode(),
  "receiver": transit.build_receiver_handshake(tk).decode(),
  "relay": transit.build_sided_relay_handshake(tk, sys.argv[2]).decode(),
  "records": recs,
}))`;
  return JSON.parse(execFileSync(SYSTEM_PYTHON, ['-c', script, toHex(wormholeKey), side, JSON.stringify(records)], { encoding: 'utf8' }));
}

describe('transit keys and records match magic-wormhole', () => {
  it('transit key, handshakes, relay line and sealed records are byte-equal to Python', () => {
    const key = cryptoRandomBytes(32);
    const side = toHex(cryptoRandomBytes(8));
    const plaintexts = [utf8('first'), new Uint8Array(0), cryptoRandomBytes(1000)];
    const py = pythonTransit(
      key,
      side,
      plaintexts.map((p) => toHex(p)),
    ) as unknown as { transit_key: string; sender: string; receiver: string; relay: string; records: string[] };
    const tk = deriveTransitKey(key);
    expect(toHex(tk)).toBe(py.transit_key);
    expect(new TextDecoder().decode(transitHandshake(tk, 'sender'))).toBe(py.sender);
    expect(new TextDecoder().decode(transitHandshake(tk, 'receiver'))).toBe(py.receiver);
    expect(new TextDecoder().decode(relayHandshake(tk, side))).toBe(py.relay);
    const sealer = new RecordSealer(recordKeys(tk, 'sender').send);
    // Our frame = 4-byte length ‖ nonce ‖ box; Python's encrypt() returns nonce ‖ box.
    expect(plaintexts.map((p) => toHex(sealer.seal(p).subarray(4)))).toEqual(py.records);
  });

  it('the sender seals with the key the receiver opens with, and back', () => {
    const tk = deriveTransitKey(cryptoRandomBytes(32));
    const [s, r] = [recordKeys(tk, 'sender'), recordKeys(tk, 'receiver')];
    expect(toHex(s.send)).toBe(toHex(r.receive));
    expect(toHex(s.receive)).toBe(toHex(r.send));
    expect(toHex(s.send)).not.toBe(toHex(s.receive));
  });
});

describe('records', () => {
  it('round-trip in any chunking; nonces count up from 0 and never repeat', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1 }),
        (messages, cuts) => {
          const key = cryptoRandomBytes(32);
          const sealer = new RecordSealer(key);
          const frames = messages.map((m) => sealer.seal(m));
          const nonces = frames.map((f) => toHex(f.subarray(4, 28)));
          expect(new Set(nonces).size).toBe(frames.length);
          expect(nonces).toEqual(frames.map((_, i) => toHex(counterNonce(BigInt(i)))));
          const wire = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
          frames.reduce((at, f) => (wire.set(f, at), at + f.length), 0);
          const opener = new RecordOpener(key, 1024);
          const out: Uint8Array[] = [];
          for (let at = 0, i = 0; at < wire.length; i++) {
            const n = cuts[i % cuts.length]!;
            out.push(...opener.push(wire.subarray(at, at + n)));
            at += n;
          }
          expect(out.map(toHex)).toEqual(messages.map(toHex));
          expect(opener.buffered).toBe(0);
        },
      ),
      { numRuns: FC_RUNS },
    );
  });

  it('a replayed, reordered, dropped or tampered record is refused; an oversized length is refused before buffering', () => {
    const branches = new Branches('record attacks', ['replay', 'reorder', 'drop', 'tamper', 'oversize'] as const);
    fc.assert(
      fc.property(fc.constantFrom('replay', 'reorder', 'drop', 'tamper', 'oversize'), fc.integer({ min: 3, max: 8 }), (attack, count) => {
        branches.hit(attack);
        const key = cryptoRandomBytes(32);
        const sealer = new RecordSealer(key);
        const frames = Array.from({ length: count }, (_, i) => sealer.seal(utf8(`record ${i}`)));
        let sent: Uint8Array[];
        if (attack === 'replay') sent = [frames[0]!, frames[1]!, frames[1]!];
        else if (attack === 'reorder') sent = [frames[0]!, frames[2]!, frames[1]!];
        else if (attack === 'drop') sent = [frames[0]!, frames[2]!];
        else if (attack === 'tamper') {
          const bad = frames[1]!.slice();
          bad[bad.length - 1]! ^= 1;
          sent = [frames[0]!, bad];
        } else {
          const huge = new Uint8Array(4);
          new DataView(huge.buffer).setUint32(0, 0xffffffff);
          sent = [frames[0]!, huge];
        }
        const opener = new RecordOpener(key, 64);
        expect(opener.push(sent[0]!)).toHaveLength(1);
        const rest = () => sent.slice(1).forEach((f) => opener.push(f));
        expect(rest).toThrow(attack === 'oversize' ? TooLargeError : CryptoError);
      }),
      { numRuns: Math.min(FC_RUNS, 200) },
    );
    branches.check();
  });
});

describe('hints', () => {
  it('our transit message carries one relay hint per relay and reads back', () => {
    const relays = [parseTransitHelper('tcp:127.0.0.1:4001'), parseTransitHelper('tcp:[::1]:4002')];
    expect(relays[1]).toEqual({ host: '::1', port: 4002 });
    expect(relayHintsOf(transitMessage(relays))).toEqual(relays);
    expect(
      mergeRelays(relays, [
        { host: '127.0.0.1', port: 4001 },
        { host: 'example.org', port: 1 },
      ]),
    ).toEqual([...relays, { host: 'example.org', port: 1 }]);
    expect(() => parseTransitHelper('127.0.0.1:4001')).toThrow(/tcp:HOST:PORT/);
    expect(() => parseTransitHelper('tcp:h:0')).toThrow(/tcp:HOST:PORT/);
  });

  it('never throws on whatever a peer sends, and keeps only well-formed relay hints (direct hints ignored)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (junk) => {
        const hints = relayHintsOf(junk);
        for (const h of hints) expect(Number.isInteger(h.port) && typeof h.host === 'string').toBe(true);
      }),
      { numRuns: FC_RUNS },
    );
    expect(
      relayHintsOf({
        'hints-v1': [
          { type: 'direct-tcp-v1', hostname: '192.0.2.1', port: 1234 },
          {
            type: 'relay-v1',
            hints: [
              { type: 'direct-tcp-v1', hostname: 'relay.example', port: 4001 },
              { type: 'direct-tcp-v1', hostname: 'x', port: 70000 },
            ],
          },
        ],
      }),
    ).toEqual([{ host: 'relay.example', port: 4001 }]);
  });
});

describe('connectTransit between two of our clients', () => {
  let ours: TransitRelay;
  let debian: Awaited<ReturnType<typeof startPythonTransitRelay>>;
  beforeAll(async () => {
    [ours, debian] = await Promise.all([startTransitRelay({ port: 0 }), startPythonTransitRelay()]);
  });
  afterAll(async () => {
    await Promise.all([ours?.close(), debian?.close()]);
  });

  const relays = () =>
    [
      ['our transit relay', ours.hint],
      ['the Debian transit relay', debian.hint],
    ] as const;

  it.each([0, 1])('records both ways through relay %i', async (i) => {
    const [name, hint] = relays()[i]!;
    const transitKey = deriveTransitKey(cryptoRandomBytes(32));
    const common = { transitKey, relays: [parseTransitHelper(hint)], connector: nodeTcpConnector(), randomBytes: cryptoRandomBytes };
    const [sender, receiver] = await Promise.all([connectTransit({ ...common, role: 'sender' }), connectTransit({ ...common, role: 'receiver' })]);
    expect(sender.via, name).toBe(hint);
    const big = cryptoRandomBytes(200_000);
    await sender.sendRecord(big);
    await sender.sendRecord(utf8('second'));
    expect(toHex(await receiver.receiveRecord())).toBe(toHex(big));
    expect(new TextDecoder().decode(await receiver.receiveRecord())).toBe('second');
    await receiver.sendRecord(utf8('{"ack":"ok"}'));
    expect(new TextDecoder().decode(await sender.receiveRecord())).toBe('{"ack":"ok"}');
    sender.close();
    receiver.close();
  });

  it('sides holding different keys never meet: each times out, typed', async () => {
    const base = { relays: [parseTransitHelper(ours.hint)], connector: nodeTcpConnector(), randomBytes: cryptoRandomBytes, timeoutMs: 1_500 };
    const results = await Promise.allSettled([
      connectTransit({ ...base, role: 'sender', transitKey: deriveTransitKey(cryptoRandomBytes(32)) }),
      connectTransit({ ...base, role: 'receiver', transitKey: deriveTransitKey(cryptoRandomBytes(32)) }),
    ]);
    for (const r of results) expect(r.status === 'rejected' && r.reason).toBeInstanceOf(TimeoutError);
  });

  it('the relay being unreachable fails at once with the reason', async () => {
    const transitKey = deriveTransitKey(cryptoRandomBytes(32));
    const closed = await startTransitRelay({ port: 0 });
    const hint = closed.hint;
    await closed.close();
    await expect(
      connectTransit({ role: 'sender', transitKey, relays: [parseTransitHelper(hint)], connector: nodeTcpConnector(), randomBytes: cryptoRandomBytes }),
    ).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
  });

  it('an abort stops the attempt, typed', async () => {
    const controller = new AbortController();
    const transitKey = deriveTransitKey(cryptoRandomBytes(32));
    const attempt = connectTransit({
      role: 'receiver',
      transitKey,
      relays: [parseTransitHelper(ours.hint)],
      connector: nodeTcpConnector(),
      randomBytes: cryptoRandomBytes,
      signal: controller.signal,
    });
    controller.abort(new Error('user'));
    await expect(attempt).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
