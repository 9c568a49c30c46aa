import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import { parseServerMessage, type ServerMessage } from '../src/wormhole/messages.js';
import { Branches } from './helpers/branches.js';
import { FC_RUNS } from './helpers/runs.js';

/** One frame per server message type, as wormhole-mailbox-server 0.4.1 writes them. */
const frames: Record<Exclude<ServerMessage['type'], 'unknown'>, Record<string, unknown>> = {
  welcome: { type: 'welcome', welcome: { motd: 'hi', current_cli_version: '0.13.0' }, server_tx: 1.5 },
  ack: { type: 'ack', id: '00a1', server_tx: 1.5 },
  nameplates: { type: 'nameplates', nameplates: [{ id: '4' }, { id: '12' }], server_tx: 1.5 },
  allocated: { type: 'allocated', nameplate: '12', server_tx: 1.5 },
  claimed: { type: 'claimed', mailbox: 'mbx', server_tx: 1.5 },
  released: { type: 'released', server_tx: 1.5 },
  message: { type: 'message', side: 'abcdef0123', phase: 'pake', body: '00ff', server_rx: 1.25, id: '00a2', server_tx: 1.5 },
  closed: { type: 'closed', server_tx: 1.5 },
  pong: { type: 'pong', pong: 7, server_tx: 1.5 },
  error: { type: 'error', error: 'crowded', orig: { type: 'claim', nameplate: '12' }, server_tx: 1.5 },
};

describe('parseServerMessage', () => {
  for (const [type, frame] of Object.entries(frames)) {
    it(`reads '${type}' as its own member, every field intact`, () => {
      expect(parseServerMessage(JSON.stringify(frame))).toEqual(frame);
    });
  }

  it('drops fields a member does not name, and reads a missing ack id as null', () => {
    expect(parseServerMessage(JSON.stringify({ type: 'claimed', mailbox: 'm', extra: 1 }))).toEqual({ type: 'claimed', mailbox: 'm' });
    expect(parseServerMessage(JSON.stringify({ type: 'ack' }))).toEqual({ type: 'ack', id: null });
  });

  it('returns a type it does not know as unknown (a newer server), not an error', () => {
    expect(parseServerMessage('{"type":"motd-v2","x":1}')).toEqual({ type: 'unknown', received: 'motd-v2' });
  });

  it('refuses malformed frames with a ProtocolError', () => {
    const bad: unknown[] = [
      'not json',
      '[]',
      '"text"',
      '{}',
      '{"type":5}',
      new Uint8Array([1]),
      '{"type":"welcome","welcome":"hi"}',
      '{"type":"welcome","welcome":{"error":5}}',
      '{"type":"allocated"}',
      '{"type":"claimed","mailbox":1}',
      '{"type":"message","side":"a","phase":"pake","body":"00"}',
      '{"type":"message","side":"a","phase":1,"body":"00","server_rx":1}',
      '{"type":"nameplates","nameplates":[{"id":1}]}',
      '{"type":"error"}',
      '{"type":"ack","id":5}',
      '{"type":"pong","pong":"x"}',
    ];
    for (const text of bad) expect(() => parseServerMessage(text), String(text)).toThrow(ProtocolError);
  });

  it('never fails any other way on garbage', () => {
    const branches = new Branches('server messages from garbage', ['read', 'refused']);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .record({ type: fc.constantFrom(...Object.keys(frames)), rest: fc.jsonValue() })
            .map((r) => JSON.stringify({ ...(r.rest as object), type: r.type })),
        ),
        (text) => {
          try {
            parseServerMessage(text);
            branches.hit('read');
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
            branches.hit('refused');
          }
        },
      ),
      { numRuns: FC_RUNS },
    );
    branches.check();
  });
});
