import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors.js';
import { BackchannelError, ERROR_CODES, InternalError, ProtocolError, TimeoutError, toBackchannelError, type ErrorCode } from '../src/errors.js';
import { decode, encode, type Sealer } from '../src/journal/encode.js';

/** Every exported error class, found by what its instances are: one per code, none missing. */
const classes = (Object.values(errors) as unknown[]).filter(
  (v): v is abstract new (...args: never[]) => BackchannelError => typeof v === 'function' && v.prototype instanceof BackchannelError,
);

/** One instance per code, built through each class's own constructor. */
const samples: Record<ErrorCode, BackchannelError> = {
  INVALID_ARGUMENT: new errors.InvalidArgumentError('bad', { field: 'x' }),
  BAD_CODE: new errors.BadCodeError('bad code', { reason: 'nameplate', input: '-x' }),
  WRONG_CODE: new errors.WrongCodeError(),
  CROWDED: new errors.CrowdedError(),
  SERVER_ERROR: new errors.ServerError('refused', { error: 'nope', orig: { type: 'claim' } }),
  CONNECTION_LOST: new errors.ConnectionLostError('lost', { url: 'ws://127.0.0.1:1/v1' }),
  TIMEOUT: new errors.TimeoutError('late', { phase: 'waiting', ms: 10 }),
  ABORTED: new errors.AbortedError(undefined, 'user'),
  PROTOCOL: new errors.ProtocolError('broken', { got: 1 }),
  CRYPTO: new errors.CryptoError('bad point'),
  CLOSED: new errors.ClosedError(),
  NOT_FOUND: new errors.NotFoundError('contact', 'abc'),
  QUARANTINED: new errors.QuarantinedError('doc1', ['moniker must be a string'], ['quarantine', 'contact', 'doc1']),
  IDENTITY_DAMAGED: new errors.IdentityDamagedError('damaged', { key: ['system'], problems: ['truncated'] }),
  SCHEMA_TOO_NEW: new errors.SchemaTooNewError('doc1', 9, 1),
  TRANSPORT_CLOSED: new errors.TransportClosedError('gone'),
  TOO_LARGE: new errors.TooLargeError('frame', 10, 5),
  SIGNAL_REJECTED: new errors.SignalRejectedError('replay', 'counter 1 after 2'),
  BUSY: new errors.BusyError('one at a time'),
  INTERNAL: new errors.InternalError('oops', { where: 'here' }),
  RELAY_UNSUPPORTED: new errors.RelayUnsupportedError('ws://127.0.0.1:1/v1', 'answered HTTP 404'),
  RELAY_OUTDATED: new errors.RelayOutdatedError('ws://127.0.0.1:1/backchannel/v2', "deposit's 'readers' must be 1 to 16 distinct tags of 16 hex digits"),
  RELAY_BUSY: new errors.RelayBusyError('The relay is busy: rate limited.', { reason: 'rate-limited', retryAfterMs: 10_000 }),
  TOPIC_UNPROVEN: new errors.TopicUnprovenError('The relay refused announce: prove the topic first.', { re: 'announce', reason: 'prove the topic first' }),
  CODE_EXPIRED: new errors.CodeExpiredError(),
  TRANSFER_FAILED: new errors.TransferFailedError('Transfer failed: bad remote hash.', { reason: 'hash' }),
  FILE_TOO_LARGE: new errors.FileTooLargeError(2048, 1024, { filename: 'a.bin' }),
  FILE_CORRUPT: new errors.FileCorruptError('ab'.repeat(32), 'hash mismatch'),
  LINK_REFUSED: new errors.LinkRefusedError('not signed by the device that showed the code'),
};

describe('typed errors', () => {
  it('has exactly one class per code', () => {
    expect(Object.keys(samples).sort()).toEqual([...ERROR_CODES].sort());
    const codes = Object.values(samples).map((e) => e.code);
    expect(new Set(codes).size).toBe(ERROR_CODES.length);
    expect(classes.length).toBe(ERROR_CODES.length);
    for (const Class of classes) expect(Object.values(samples).filter((e) => e.constructor === Class)).toHaveLength(1);
  });

  it('fromJSON gives every code back as its own class, with message, data and caller', () => {
    for (const code of ERROR_CODES) {
      const original = samples[code];
      original.caller = 'pair.accept';
      const back = BackchannelError.fromJSON(JSON.parse(JSON.stringify(original)));
      expect(back.constructor).toBe(original.constructor);
      expect(back).toBeInstanceOf(BackchannelError);
      expect(back.toJSON()).toEqual(original.toJSON());
    }
  });

  it('fromJSON turns anything else into an InternalError, without throwing', () => {
    for (const junk of [null, 1, 'x', [], {}, { code: 'NO_SUCH_CODE', message: 'm' }, { code: 'TIMEOUT' }, { code: 'TIMEOUT', message: 5 }]) {
      const e = BackchannelError.fromJSON(junk);
      expect(e).toBeInstanceOf(InternalError);
      expect(e.code).toBe('INTERNAL');
    }
  });

  it('toBackchannelError keeps a typed error as it is and wraps anything else', () => {
    const timeout = new TimeoutError('late', { phase: 'x', ms: 1 });
    expect(toBackchannelError(timeout)).toBe(timeout);
    expect(toBackchannelError(timeout, 'PROTOCOL')).toBe(timeout);

    const cause = new TypeError('undefined is not a function');
    const wrapped = toBackchannelError(cause);
    expect(wrapped).toBeInstanceOf(InternalError);
    expect(wrapped.message).toBe('undefined is not a function');
    expect(wrapped.cause).toBe(cause);

    const asProtocol = toBackchannelError('a string was thrown', 'PROTOCOL');
    expect(asProtocol).toBeInstanceOf(ProtocolError);
    expect(asProtocol.message).toBe('a string was thrown');

    const built = toBackchannelError(new Error('boom'), (message) => new ProtocolError(`sync failed: ${message}`));
    expect(built).toBeInstanceOf(ProtocolError);
    expect(built.message).toBe('sync failed: boom');
  });

  it('the journal decodes every code to its own class again', () => {
    const sealer: Sealer = { seal: (p) => Buffer.from(p).toString('base64'), open: (s) => new Uint8Array(Buffer.from(s, 'base64')) };
    for (const code of ERROR_CODES) {
      const original = samples[code];
      const back = decode(JSON.parse(JSON.stringify(encode({ error: original }, sealer))), sealer) as { error: BackchannelError };
      expect(back.error.constructor).toBe(original.constructor);
      expect(back.error.message).toBe(original.message);
      expect(back.error.data).toEqual(original.data);
    }
    // A foreign error stays a plain Error with its name.
    const foreign = decode(encode(new RangeError('r'), sealer), sealer) as Error;
    expect(foreign).not.toBeInstanceOf(BackchannelError);
    expect([foreign.name, foreign.message]).toEqual(['RangeError', 'r']);
  });
});
