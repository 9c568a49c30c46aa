/**
 * Typed errors. One class per condition, each with a stable `code`, structured `data` and `toJSON`, so
 * a host can branch on `err.code` (or `instanceof`) and errors survive a trip through a worker or a log.
 * @module
 */

/** The stable code of every {@link BackchannelError}: branch on it (or on the class), never on the message. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'BAD_CODE'
  | 'WRONG_CODE'
  | 'CROWDED'
  | 'SERVER_ERROR'
  | 'CONNECTION_LOST'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'PROTOCOL'
  | 'CRYPTO'
  | 'CLOSED'
  | 'NOT_FOUND'
  | 'QUARANTINED'
  | 'IDENTITY_DAMAGED'
  | 'SCHEMA_TOO_NEW'
  | 'TRANSPORT_CLOSED'
  | 'TOO_LARGE'
  | 'SIGNAL_REJECTED'
  | 'BUSY'
  | 'INTERNAL'
  | 'RELAY_UNSUPPORTED'
  | 'RELAY_OUTDATED'
  | 'RELAY_BUSY'
  | 'TOPIC_UNPROVEN'
  | 'CODE_EXPIRED'
  | 'TRANSFER_FAILED'
  | 'FILE_TOO_LARGE'
  | 'FILE_CORRUPT'
  | 'LINK_REFUSED';

/** Base class of every error Backchannel throws on purpose. */
export class BackchannelError extends Error {
  /** Stable across versions; one per class. */
  readonly code: ErrorCode;
  /** Structured detail for a program (e.g. `reason`, `retryAfterMs`); never a secret. */
  readonly data: Record<string, unknown>;
  /** The public call that failed, e.g. `pair.accept`; set by the API layer. */
  caller?: string;

  /** Protected: every code has its own class below; build that one. */
  protected constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.data = data;
    this.name = new.target.name;
  }

  /** A plain object for logs and for crossing a worker or process boundary; `fromJSON` restores the class. */
  toJSON(): ErrorJson {
    return { name: this.name, code: this.code, message: this.message, data: this.data, caller: this.caller };
  }

  /**
   * The error {@link toJSON} wrote, as an instance of its own class again (a `TimeoutError` comes back
   * a `TimeoutError`), e.g. from a worker, a log or the journal. Anything that is not a known code's
   * JSON becomes an {@link InternalError} that says so.
   */
  static fromJSON(json: unknown): BackchannelError {
    const j = isRecord(json) ? json : {};
    const Class = typeof j.code === 'string' ? CLASS_OF[j.code as ErrorCode] : undefined;
    if (!Class || typeof j.message !== 'string') return new InternalError('Not a Backchannel error in JSON form.', { json: summarise(json) });
    const error = make(Class, j.message, isRecord(j.data) ? j.data : {});
    if (typeof j.caller === 'string') error.caller = j.caller;
    return error;
  }
}

/** What {@link BackchannelError.toJSON} writes. */
export interface ErrorJson {
  name: string;
  code: ErrorCode;
  message: string;
  data: Record<string, unknown>;
  caller?: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const summarise = (v: unknown): string => {
  try {
    return String(JSON.stringify(v)).slice(0, 200);
  } catch {
    return typeof v;
  }
};

/**
 * An instance of `Class` with exactly this message and data. The subclasses' constructors build their
 * messages from their arguments; rebuilding one from JSON (or wrapping a foreign failure) must keep
 * the message it had, so this runs the base constructor with the subclass as `new.target`.
 */
function make(Class: ErrorClass, message: string, data: Record<string, unknown>, cause?: unknown): BackchannelError {
  const code = CODE_OF.get(Class)!;
  return Reflect.construct(BackchannelError, [code, message, data, cause === undefined ? undefined : { cause }], Class) as BackchannelError;
}

/**
 * `error` as a typed error: a {@link BackchannelError} stays what it is; anything else (a thrown string,
 * a TypeError from a library, a rejected promise) is wrapped, with the original as `cause`, in the
 * class of `fallback` (INTERNAL unless the caller knows better), or in whatever `fallback` builds.
 */
export function toBackchannelError(
  error: unknown,
  fallback: ErrorCode | ((message: string, cause: unknown) => BackchannelError) = 'INTERNAL',
): BackchannelError {
  if (error instanceof BackchannelError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof fallback === 'function') return fallback(message, error);
  return make(CLASS_OF[fallback], message, {}, error);
}

/** A parameter had the wrong type or an out-of-range value. */
export class InvalidArgumentError extends BackchannelError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('INVALID_ARGUMENT', message, data);
  }
}

/** A wormhole code could not be parsed; `data.reason` says which part is wrong. */
export class BadCodeError extends BackchannelError {
  constructor(message: string, data: { reason: string; input?: string }) {
    super('BAD_CODE', message, data);
  }
}

/**
 * Key confirmation failed: the other side typed a different code, or someone in the middle guessed.
 * The mailbox was closed with mood "scary" and the code is dead: make a new one.
 */
export class WrongCodeError extends BackchannelError {
  constructor(message = 'Key confirmation failed: the codes did not match (or someone guessed). Make a new code and try again.') {
    super('WRONG_CODE', message);
  }
}

/** A third side tried to use a nameplate or mailbox that two sides already hold. */
export class CrowdedError extends BackchannelError {
  constructor(message = 'This code is already in use by two other sides (crowded). Make a new code.') {
    super('CROWDED', message);
  }
}

/** The mailbox server sent an `error` frame or an unwelcome `welcome`. */
export class ServerError extends BackchannelError {
  constructor(message: string, data: { error: string; orig?: unknown }) {
    super('SERVER_ERROR', message, data);
  }
}

/** The connection to the relay dropped and could not be brought back within the retry budget. */
export class ConnectionLostError extends BackchannelError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('CONNECTION_LOST', message, data);
  }
}

/** An operation ran out of time; `data.phase` says what we were waiting for. */
export class TimeoutError extends BackchannelError {
  constructor(message: string, data: { phase: string; ms: number }) {
    super('TIMEOUT', message, data);
  }
}

/** The caller cancelled through an AbortSignal. */
export class AbortedError extends BackchannelError {
  constructor(message = 'The operation was cancelled.', reason?: unknown) {
    super('ABORTED', message, reason === undefined ? {} : { reason: String(reason) });
  }
}

/** The peer or the server broke the protocol (malformed frame, unexpected message). */
export class ProtocolError extends BackchannelError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('PROTOCOL', message, data);
  }
}

/** A cryptographic input was invalid (bad point, reflected message, failed decryption). */
export class CryptoError extends BackchannelError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('CRYPTO', message, data);
  }
}

/** The object was already closed. */
export class ClosedError extends BackchannelError {
  constructor(message = 'Already closed.') {
    super('CLOSED', message);
  }
}

/** One pairing at a time: another invite or accept is still running. */
export class BusyError extends BackchannelError {
  constructor(message: string) {
    super('BUSY', message);
  }
}

/** No document, contact or message with that id. */
export class NotFoundError extends BackchannelError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `No ${what} ${id}.`, { what, id });
  }
}

/**
 * A stored document failed to load or to validate. It was moved aside under `data.quarantineKey`,
 * untouched, and nothing else was changed; `data.problems` lists what was wrong. The rest loads.
 */
export class QuarantinedError extends BackchannelError {
  constructor(docId: string, problems: string[], quarantineKey: string[]) {
    super('QUARANTINED', `Document ${docId} is damaged and was set aside: ${problems.slice(0, 3).join('; ')}`, {
      docId,
      problems,
      quarantineKey,
    });
  }
}

/**
 * The device identity (`system`: device id, schema version) failed to load or to validate. Unlike a
 * damaged document it is *not* set aside — a new identity would be a different device to every
 * contact — so the database does not open; `data.key` says where it is, `data.problems` what is wrong.
 */
export class IdentityDamagedError extends BackchannelError {
  constructor(message: string, data: { key: string[]; problems: string[] }) {
    super('IDENTITY_DAMAGED', message, data);
  }
}

/** A document was written by a newer Backchannel whose schema this version does not know. */
export class SchemaTooNewError extends BackchannelError {
  constructor(docId: string, found: number, known: number) {
    super('SCHEMA_TOO_NEW', `Document ${docId} has schema ${found}; this version knows up to ${known}. Upgrade Backchannel.`, {
      docId,
      found,
      known,
    });
  }
}

/** The transport to a peer closed. */
export class TransportClosedError extends BackchannelError {
  constructor(reason = 'closed') {
    super('TRANSPORT_CLOSED', `The connection to the peer closed: ${reason}.`, { reason });
  }
}

/** Something a peer sent, or asked us to store, is over a limit. */
export class TooLargeError extends BackchannelError {
  constructor(what: string, size: number, limit: number) {
    super('TOO_LARGE', `${what} is ${size} bytes; the limit is ${limit}.`, { what, size, limit });
  }
}

/** Why a sealed signalling or relayed message was refused. */
export type RejectReason = 'forged' | 'malformed' | 'reflection' | 'replay' | 'misaddressed';

/** A sealed DISCOVER message failed a check: forged (wrong key or tampered), replayed, reflected… */
export class SignalRejectedError extends BackchannelError {
  constructor(reason: RejectReason, message: string) {
    super('SIGNAL_REJECTED', `Rejected a ${reason} message: ${message}`, { reason });
  }
}

/**
 * The relay answers magic-wormhole pairing (`/v1`) but not Backchannel's DISCOVER endpoint
 * (`/backchannel/v2`): pairing through it works, contacts would never sync. `data.detail` says how
 * the endpoint refused (an HTTP status, or closing before any frame).
 */
export class RelayUnsupportedError extends BackchannelError {
  constructor(relay: string, detail: string) {
    super(
      'RELAY_UNSUPPORTED',
      `The relay ${relay} only speaks magic-wormhole pairing: its /backchannel/v2 endpoint ${detail}, so contacts cannot find each other or sync through it. ` +
        'Run `backchannel relay` (or startRelay from @backchannel/sdk/server) and pass its URL as `relay`.',
      { relay, detail },
    );
  }
}

/**
 * Not a failure, a warning: the relay is a version from before reader tokens. Everything still syncs,
 * but what this device leaves on the relay for a contact's devices (or my own) lists its readers by
 * bare tag, so anyone holding that contact's key, a device I unlinked among them, can acknowledge it
 * and so delete it before the devices it is for have read it.
 */
export class RelayOutdatedError extends BackchannelError {
  constructor(relay: string, reason: string) {
    super(
      'RELAY_OUTDATED',
      `The relay ${relay} is from before reader tokens (it answered "${reason}"): what this device leaves there for a contact can be deleted unread ` +
        "by anyone holding that contact's key, such as a device you unlinked. Messages still sync. Update the relay to this version of `backchannel relay`.",
      { relay, reason },
    );
  }
}

/** A bug or a failure nobody anticipated (a library threw); `cause` holds the original. */
export class InternalError extends BackchannelError {
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('INTERNAL', message, data, options);
  }
}

/** Why a busy relay turned us away: a rate (claims, connections per address), a byte quota, or its global caps. */
export type RelayBusyReason = 'rate-limited' | 'quota' | 'overloaded';

/**
 * The relay is throttling us or is full: it refused a command with `rate limited:` / `quota exceeded:`,
 * or refused the connection itself (HTTP 429 / 503). Nothing is wrong with the code or the network:
 * try again later, after `data.retryAfterMs` when the relay said how long.
 */
export class RelayBusyError extends BackchannelError {
  constructor(message: string, data: { reason: RelayBusyReason; retryAfterMs?: number; url?: string; detail?: string }) {
    super('RELAY_BUSY', message, data);
  }
}

/**
 * The relay refused a request on a contact's topic that this connection had not proven with the topic
 * key (DISCOVER's `prove`): the proof failed, or was never sent. `data.re` is the refused request.
 */
export class TopicUnprovenError extends BackchannelError {
  constructor(message: string, data: { re: string | null; reason: string }) {
    super('TOPIC_UNPROVEN', message, data);
  }
}

/**
 * The code's invite is gone: the inviter made a new code (a refreshing invite) or stopped waiting, so
 * nobody held the code's mailbox when we joined it. Ask for the code shown now.
 */
export class CodeExpiredError extends BackchannelError {
  constructor(
    message = 'This code has expired: the inviter is no longer waiting on it (a newer code replaced it, or the invite ended). Ask for the code shown now.',
  ) {
    super('CODE_EXPIRED', message);
  }
}

/**
 * A file transfer did not complete: the other side refused it or reported a failure, the bytes
 * received did not match what was offered, or the hash in the receiver's ack differs from what was
 * sent. `data.reason` says which.
 */
export class TransferFailedError extends BackchannelError {
  constructor(message: string, data: { reason: 'rejected' | 'remote-error' | 'size' | 'hash' | 'ack'; detail?: string }) {
    super('TRANSFER_FAILED', message, data);
  }
}

/** A file is over the size limit in Settings (`file_size_limit`): refused before a byte is stored. */
export class FileTooLargeError extends BackchannelError {
  constructor(size: number, limit: number, data: { filename?: string; hash?: string } = {}) {
    super('FILE_TOO_LARGE', `The file is ${size} bytes; the limit in Settings (file_size_limit) is ${limit}.`, { size, limit, ...data });
  }
}

/**
 * A received file's bytes do not hash to what its message announced (a tampered or damaged chunk):
 * the partial bytes were discarded.
 */
export class FileCorruptError extends BackchannelError {
  constructor(hash: string, detail: string) {
    super('FILE_CORRUPT', `The file ${hash.slice(0, 16)}… did not arrive intact (${detail}); its bytes were discarded.`, { hash, detail });
  }
}

/**
 * A device link was refused: what the approving device sent does not make this device one of its
 * set (a record not signed by the device that showed the code, not naming this device, malformed or
 * too large). Nothing of it was stored.
 */
export class LinkRefusedError extends BackchannelError {
  constructor(detail: string) {
    super('LINK_REFUSED', `The device link was refused: ${detail}.`, { detail });
  }
}

type ErrorClass = abstract new (...args: never[]) => BackchannelError;

/** One class per code: what {@link BackchannelError.fromJSON} and {@link toBackchannelError} build. */
const CLASS_OF: { readonly [C in ErrorCode]: ErrorClass } = {
  INVALID_ARGUMENT: InvalidArgumentError,
  BAD_CODE: BadCodeError,
  WRONG_CODE: WrongCodeError,
  CROWDED: CrowdedError,
  SERVER_ERROR: ServerError,
  CONNECTION_LOST: ConnectionLostError,
  TIMEOUT: TimeoutError,
  ABORTED: AbortedError,
  PROTOCOL: ProtocolError,
  CRYPTO: CryptoError,
  CLOSED: ClosedError,
  NOT_FOUND: NotFoundError,
  QUARANTINED: QuarantinedError,
  IDENTITY_DAMAGED: IdentityDamagedError,
  SCHEMA_TOO_NEW: SchemaTooNewError,
  TRANSPORT_CLOSED: TransportClosedError,
  TOO_LARGE: TooLargeError,
  SIGNAL_REJECTED: SignalRejectedError,
  BUSY: BusyError,
  INTERNAL: InternalError,
  RELAY_UNSUPPORTED: RelayUnsupportedError,
  RELAY_OUTDATED: RelayOutdatedError,
  RELAY_BUSY: RelayBusyError,
  TOPIC_UNPROVEN: TopicUnprovenError,
  CODE_EXPIRED: CodeExpiredError,
  TRANSFER_FAILED: TransferFailedError,
  FILE_TOO_LARGE: FileTooLargeError,
  FILE_CORRUPT: FileCorruptError,
  LINK_REFUSED: LinkRefusedError,
};
const CODE_OF = new Map<ErrorClass, ErrorCode>(Object.entries(CLASS_OF).map(([code, Class]) => [Class, code as ErrorCode]));

/** Every error code, in the order above. */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(CLASS_OF) as ErrorCode[];
