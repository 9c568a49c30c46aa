import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { startRelay } from '../server/index.js';
import { ProtocolError } from '../src/errors.js';
import {
  DEFAULT_WIRE_LIMITS,
  DISCOVER_PATH,
  DISCOVER_VERSION,
  errorFrame,
  parseDiscoverReply,
  parseDiscoverRequest,
  type DiscoverReply,
  type DiscoverRequest,
  type WireResult,
} from '../src/discover/wire.js';
import { topicKey } from '../src/crypto/topicKey.js';
import { rawClient } from './helpers/rawClient.js';
import { challengeOf, proveOn } from './helpers/topicProof.js';
import { Branches } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

const contactKey = new Uint8Array(32).fill(7);
const topic = topicKey(contactKey).topic;
const peer = '0123456789abcdef';
const other = 'fedcba9876543210';

const requests: Record<DiscoverRequest['type'], DiscoverRequest> = {
  prove: { type: 'prove', topic, key: 'cd'.repeat(32), signature: 'ef'.repeat(64) },
  announce: { type: 'announce', topic },
  send: { type: 'send', topic, to: peer, kind: 'signal', blob: 'AAEC' },
  leave: { type: 'leave', topic },
  ping: { type: 'ping' },
};

const replies: Record<DiscoverReply['type'], DiscoverReply[]> = {
  challenge: [{ type: 'challenge', challenge: '01'.repeat(32) }],
  proven: [{ type: 'proven', topic }],
  announced: [
    { type: 'announced', topic, peer, peers: [other] },
    { type: 'announced', topic, peer, peers: [] },
  ],
  joined: [{ type: 'joined', topic, peer: other }],
  left: [{ type: 'left', topic, peer: other }],
  message: [
    { type: 'message', topic, from: other, kind: 'signal', blob: 'AAEC' },
    { type: 'message', topic, from: other, kind: 'data', blob: '' },
  ],
  pong: [{ type: 'pong' }],
  error: [
    { type: 'error', re: 'send', reason: 'no such peer on this topic' },
    { type: 'error', re: 'deposit', id: 'r1', reason: 'mailbox full' },
    { type: 'error', re: null, reason: 'frame is not a JSON object' },
    { type: 'error', re: 'fetch', reason: 'prove the topic key on this connection first', code: 'unproven' },
  ],
};

function refused<T>(result: WireResult<T>): ProtocolError {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('accepted');
  expect(result.error).toBeInstanceOf(ProtocolError);
  return result.error;
}

describe('the DISCOVER wire', () => {
  it('is version 2 at /backchannel/v2', () => {
    expect([DISCOVER_VERSION, DISCOVER_PATH]).toEqual([2, '/backchannel/v2']);
  });

  it('every request type round-trips through JSON', () => {
    for (const frame of Object.values(requests)) expect(parseDiscoverRequest(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it('every reply type round-trips through JSON', () => {
    for (const frame of Object.values(replies).flat()) expect(parseDiscoverReply(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it('keeps only the fields a frame names', () => {
    expect(parseDiscoverRequest(JSON.stringify({ ...requests.announce, extra: 'x' }))).toEqual({ ok: true, frame: requests.announce });
  });

  it('refuses malformed requests with a typed result that names the request', () => {
    const bad: [unknown, string | null, string][] = [
      ['not json', null, 'frame is not a JSON object'],
      ['[1]', null, 'frame is not a JSON object'],
      ['{"topic":"x"}', null, "frame has no string 'type'"],
      [Uint8Array.of(1), null, 'binary frames are not part of this protocol'],
      [JSON.stringify({ type: 'announce', topic: 'AB'.repeat(32) }), 'announce', "announce needs a 'topic' of 64 hex digits"],
      [JSON.stringify({ type: 'announce', topic: 5 }), 'announce', "announce needs a 'topic' of 64 hex digits"],
      [JSON.stringify({ type: 'leave' }), 'leave', "leave needs a 'topic' of 64 hex digits"],
      [JSON.stringify({ ...requests.send, to: 'x' }), 'send', "send needs a 'to' peer id of 16 hex digits"],
      [JSON.stringify({ ...requests.send, kind: 'other' }), 'send', "kind must be 'signal' or 'data'"],
      [JSON.stringify({ ...requests.send, blob: 'not base64!' }), 'send', 'blob must be base64'],
      [JSON.stringify({ ...requests.send, blob: 7 }), 'send', 'blob must be base64'],
      [JSON.stringify({ type: 'subscribe', topic }), 'subscribe', 'unknown type'],
      [JSON.stringify({ ...requests.prove, key: 'CD'.repeat(32) }), 'prove', "prove needs a 'key' of 64 hex digits"],
      [JSON.stringify({ ...requests.prove, signature: 'ef'.repeat(32) }), 'prove', "prove needs a 'signature' of 128 hex digits"],
    ];
    for (const [text, re, reason] of bad) {
      const error = refused(parseDiscoverRequest(text));
      expect(error.data, String(text)).toEqual({ re, reason });
    }
  });

  it('refuses oversize blobs by kind, and long strings in replies', () => {
    const signal = 'A'.repeat(DEFAULT_WIRE_LIMITS.maxSignalChars + 4);
    expect(refused(parseDiscoverRequest(JSON.stringify({ ...requests.send, blob: signal }))).data.reason).toMatch(/^blob too large/);
    expect(parseDiscoverRequest(JSON.stringify({ ...requests.send, kind: 'data', blob: signal })).ok).toBe(true);
    expect(
      refused(parseDiscoverRequest(JSON.stringify({ ...requests.send, kind: 'data', blob: 'AAAA'.repeat(9) }), { maxSignalChars: 8, maxDataChars: 32 })).data
        .reason,
    ).toBe('blob too large (36 > 32 characters)');
    expect(refused(parseDiscoverReply(JSON.stringify({ type: 'message', topic, from: other, kind: 'signal', blob: signal }))).data.re).toBe('message');
    refused(parseDiscoverReply(JSON.stringify({ type: 'error', re: 'send', reason: 'x'.repeat(DEFAULT_WIRE_LIMITS.maxTextChars + 1) })));
    refused(parseDiscoverReply(JSON.stringify({ type: 'error', re: 'x'.repeat(33), reason: 'r' })));
    refused(parseDiscoverReply(JSON.stringify({ type: 'announced', topic, peer, peers: Array(DEFAULT_WIRE_LIMITS.maxPeers + 1).fill(other) })));
  });

  it('refuses replies with wrong field types', () => {
    for (const frame of [
      { type: 'announced', topic, peer },
      { type: 'announced', topic, peer, peers: [1] },
      { type: 'joined', topic },
      { type: 'left', topic, peer: 'nope' },
      { type: 'message', topic, from: other, kind: 'signal' },
      { type: 'message', topic, kind: 'data', blob: '' },
      { type: 'error', re: 'send' },
      { type: 'error', re: 5, reason: 'r' },
      { type: 'error', re: 'send', id: 5, reason: 'r' },
      { type: 'error', re: 'send', reason: 'r', code: 'NOT A CODE' },
      { type: 'challenge', challenge: '01'.repeat(16) },
      { type: 'proven' },
    ]) {
      refused(parseDiscoverReply(JSON.stringify(frame)));
    }
  });

  it('marks a reply type it does not know, so a client can ignore it', () => {
    expect(refused(parseDiscoverReply('{"type":"motd"}')).data).toMatchObject({ re: 'motd', unknown: true });
  });

  it('builds error frames that name the request and its id, bounded', () => {
    expect(errorFrame({ type: 'send', id: 'r7' }, 'no')).toEqual({ type: 'error', re: 'send', id: 'r7', reason: 'no' });
    expect(errorFrame({ type: 'x'.repeat(40), id: 'y'.repeat(100) }, 'no')).toEqual({ type: 'error', re: null, reason: 'no' });
    expect(errorFrame(null, 'garbage')).toEqual({ type: 'error', re: null, reason: 'garbage' });
  });

  it('never throws on garbage, either direction', () => {
    const frames = fc.oneof(
      // Well-formed frames too, so both readers' accepting branches are reached at any run count.
      fc.constantFrom(JSON.stringify({ type: 'leave', topic }), JSON.stringify({ type: 'left', topic, peer })),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            type: fc.constantFrom(
              'prove',
              'announce',
              'send',
              'leave',
              'ping',
              'challenge',
              'proven',
              'announced',
              'joined',
              'left',
              'message',
              'pong',
              'error',
            ),
            topic: fc.oneof(fc.constant(topic), fc.string()),
            to: fc.oneof(fc.constant(peer), fc.string()),
            peer: fc.oneof(fc.constant(peer), fc.string()),
            from: fc.oneof(fc.constant(peer), fc.integer()),
            peers: fc.oneof(fc.constant([peer]), fc.array(fc.jsonValue())),
            kind: fc.constantFrom('signal', 'data', 'x'),
            blob: fc.oneof(fc.base64String(), fc.string()),
            re: fc.oneof(fc.constant(null), fc.string()),
            reason: fc.jsonValue(),
            key: fc.oneof(fc.constant('cd'.repeat(32)), fc.string()),
            signature: fc.oneof(fc.constant('ef'.repeat(64)), fc.string()),
            challenge: fc.oneof(fc.constant('01'.repeat(32)), fc.string()),
            code: fc.oneof(fc.constant('unproven'), fc.string()),
          },
          { requiredKeys: ['type'] },
        )
        .map((r) => JSON.stringify(r)),
    );
    const branches = new Branches('DISCOVER frames from garbage', ['request read', 'reply read', 'refused']);
    fc.assert(
      fc.property(frames, (text) => {
        const results = [parseDiscoverRequest(text), parseDiscoverReply(text)] as WireResult<unknown>[];
        results.forEach((result, i) => {
          if (!result.ok) {
            expect(result.error).toBeInstanceOf(ProtocolError);
            branches.hit('refused');
          } else {
            expect(JSON.parse(JSON.stringify(result.frame))).toEqual(result.frame);
            branches.hit(i === 0 ? 'request read' : 'reply read');
          }
        });
      }),
      { numRuns: FC_RUNS },
    );
    branches.check();
  });

  it('the relay answers every refused request, over a real socket, with an error frame naming it', async () => {
    const relay = await startRelay({ host: '127.0.0.1' });
    const client = await rawClient(relay.discoveryUrl);
    await challengeOf(client);
    let replies = 1; // the challenge
    const call = async (frame: unknown) => {
      if (typeof frame === 'string') client.sendText(frame);
      else client.send(frame);
      await client.next(() => client.frames.length > replies);
      return client.frames[replies++]!;
    };
    expect(await call('{not json')).toEqual({ type: 'error', re: null, reason: 'frame is not a JSON object' });
    expect(await call({ type: 'send', id: 'q1', topic, to: peer, kind: 'signal', blob: 'AAEC' })).toEqual({
      type: 'error',
      re: 'send',
      id: 'q1',
      reason: 'announce the topic before sending on it',
    });
    expect(await call({ type: 'announce', topic })).toEqual({
      type: 'error',
      re: 'announce',
      reason: 'prove the topic key on this connection first',
      code: 'unproven',
    });
    await proveOn(client, contactKey);
    replies++;
    const announced = await call({ type: 'announce', topic });
    expect(parseDiscoverReply(JSON.stringify(announced))).toMatchObject({ ok: true, frame: { type: 'announced', topic, peers: [] } });
    expect(await call({ type: 'announce', topic })).toEqual({ type: 'error', re: 'announce', reason: 'already announced on this topic' });
    expect(await call({ ...requests.send, to: other })).toEqual({ type: 'error', re: 'send', reason: 'no such peer on this topic' });
    expect(await call({ type: 'leave', topic: 'cd'.repeat(32) })).toEqual({ type: 'error', re: 'leave', reason: 'not announced on this topic' });
    expect(await call({ type: 'ping' })).toEqual({ type: 'pong' });
    client.close();
    await relay.close();
  });
});
