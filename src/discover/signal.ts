/**
 * Sealed signalling for DISCOVER. Every message between two devices of a contact travels as
 * secretbox(signal key, JSON envelope) with a fresh random nonce; the relay sees only base64.
 *
 * The envelope names its sender's session (`sid`, random per session), its addressee's session (`to`;
 * only a `hello` may be addressed to nobody yet) and a counter `n` that strictly increases per sender
 * session. So a replayed message (old counter), a reflected one (our own sid), one from an old session
 * (wrong `to`) or a forged one (MAC) is rejected with a typed {@link SignalRejectedError}. A device
 * sends SDP or ICE candidates only to a session that has sent it a valid message addressed to its
 * current session: proof that the peer holds the key *now*, not a recording.
 * @module
 */
import { fromBase64, fromUtf8, toBase64, utf8 } from '../crypto/bytes.js';
import { deriveKey } from '../crypto/keys.js';
import { open, seal } from '../crypto/secretbox.js';
import type { RandomBytes } from '../effects/random.js';
import { CryptoError, SignalRejectedError } from '../errors.js';

/** The kinds of signalling messages: hello, offer, answer, candidate. */
export type SignalKind = 'hello' | 'offer' | 'answer' | 'candidate' | 'relay' | 'bye';
const KINDS: readonly SignalKind[] = ['hello', 'offer', 'answer', 'candidate', 'relay', 'bye'];

/** A sealed signalling message between two devices of a contact. */
export interface SignalEnvelope {
  v: 1;
  /** Sender's session id (16 hex). */
  sid: string;
  /** Addressee's session id, or null for a first hello. */
  to: string | null;
  /** Per-sender-session counter, strictly increasing. */
  n: number;
  kind: SignalKind;
  body?: unknown;
}

/** The key signalling is sealed with: a subkey, so the contact key itself seals nothing on the wire. */
export function signalKey(contactKey: Uint8Array): Uint8Array {
  return deriveKey(contactKey, 'backchannel:discover:signal:v1');
}

const SID = /^[0-9a-f]{16}$/;

/** Seals outgoing envelopes for one session, numbering them. */
export class SignalSealer {
  readonly sid: string;
  readonly #key: Uint8Array;
  readonly #randomBytes: RandomBytes;
  #n = 0;

  constructor(key: Uint8Array, sid: string, randomBytes: RandomBytes) {
    this.#key = key;
    this.sid = sid;
    this.#randomBytes = randomBytes;
  }

  /** Seal one envelope for the peer session `to` (`null`: everyone on the topic), numbered after the last; base64 for the relay. */
  seal(to: string | null, kind: SignalKind, body?: unknown): string {
    const envelope: SignalEnvelope = { v: 1, sid: this.sid, to, n: ++this.#n, kind, ...(body === undefined ? {} : { body }) };
    return toBase64(seal(this.#key, utf8(JSON.stringify(envelope)), this.#randomBytes));
  }
}

/** Opens and checks incoming envelopes for one local session. */
export class SignalOpener {
  readonly #key: Uint8Array;
  readonly #sid: string;
  readonly #last = new Map<string, number>();

  constructor(key: Uint8Array, ownSid: string) {
    this.#key = key;
    this.#sid = ownSid;
  }

  /** Open and check an envelope from the relay; SignalRejectedError says why one is refused (forged, malformed, our own, replayed…). */
  open(blob: string): SignalEnvelope {
    let plaintext: Uint8Array;
    try {
      plaintext = open(this.#key, fromBase64(blob));
    } catch (err) {
      throw new SignalRejectedError('forged', err instanceof CryptoError ? err.message : 'not a sealed message');
    }
    let env: SignalEnvelope;
    try {
      env = JSON.parse(fromUtf8(plaintext)) as SignalEnvelope;
    } catch {
      throw new SignalRejectedError('malformed', 'the sealed content is not JSON');
    }
    if (
      !env ||
      env.v !== 1 ||
      typeof env.sid !== 'string' ||
      !SID.test(env.sid) ||
      !(env.to === null || (typeof env.to === 'string' && SID.test(env.to))) ||
      !Number.isSafeInteger(env.n) ||
      env.n < 1 ||
      !KINDS.includes(env.kind)
    ) {
      throw new SignalRejectedError('malformed', 'the envelope does not have the expected shape');
    }
    if (env.sid === this.#sid) throw new SignalRejectedError('reflection', 'it carries our own session id');
    if (env.to !== this.#sid && !(env.kind === 'hello' && env.to === null)) {
      throw new SignalRejectedError('misaddressed', 'it is addressed to another (or an older) session');
    }
    const last = this.#last.get(env.sid) ?? 0;
    if (env.n <= last) throw new SignalRejectedError('replay', `counter ${env.n} after ${last}`);
    this.#last.set(env.sid, env.n);
    return env;
  }
}
