/**
 * SPAKE2 over Ed25519 in symmetric mode, byte for byte as python-spake2 0.8 (`SPAKE2_Symmetric`),
 * the PAKE that magic-wormhole uses. Pure functions over bytes; randomness is a parameter.
 *
 * - password → scalar: HKDF-SHA256(salt = "", info = "SPAKE2 pw"), 48 bytes, big-endian, mod L.
 * - blinding element S: python-spake2's `arbitrary_element(b"symmetric")` (HKDF info
 *   "SPAKE2 arbitrary element", try successive y, multiply by the cofactor 8).
 * - random scalar: 64 bytes of entropy, big-endian, mod L (python-spake2's `random_scalar`).
 * - message = 0x53 ('S') ‖ encode(x·B + pw·S); key = SHA-256(SHA-256(pw) ‖ SHA-256(idS) ‖
 *   sorted(msg1, msg2) ‖ K) with K = x·(Y − pw·S), messages without their side byte.
 *
 * Deliberate deviation, pinned by a test: an inbound point with a non-canonical encoding (y ≥ p) is
 * rejected here, where python-spake2 would reduce it. Honest peers never produce one.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { CryptoError, InvalidArgumentError } from '../errors.js';
import { assertBytes, compareBytes, concatBytes, utf8 } from './bytes.js';

const Point = ed25519.Point;
type Point = InstanceType<typeof ed25519.Point>;
const P = 2n ** 255n - 19n;
/** Order of the prime subgroup. */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * inv(121666n), P);
const I = modPow(2n, (P - 1n) / 4n, P);

/** The side byte python-spake2 puts in front of a symmetric message. */
export const SIDE_SYMMETRIC = 0x53;
/** Length of a SPAKE2 message on the wire: side byte + 32-byte point. */
export const SPAKE2_MESSAGE_LENGTH = 33;

/** A source of secure random bytes: `length` of them (the SDK's default reads `crypto.getRandomValues`). */
export type RandomBytes = (length: number) => Uint8Array;

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}
function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  base = mod(base, m);
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % m;
    base = (base * base) % m;
    exp >>= 1n;
  }
  return result;
}
function inv(x: bigint): bigint {
  return modPow(x, P - 2n, P);
}
function bytesToNumberBE(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** python-spake2 `ed25519_basic.xrecover`: the even x for y (not checked to be on the curve). */
function xrecover(y: bigint): bigint {
  const xx = mod((y * y - 1n) * inv(D * y * y + 1n), P);
  let x = modPow(xx, (P + 3n) / 8n, P);
  if (mod(x * x - xx, P) !== 0n) x = (x * I) % P;
  if (x % 2n !== 0n) x = P - x;
  return x;
}
function isOnCurve(x: bigint, y: bigint): boolean {
  return mod(-x * x + y * y - 1n - D * x * x * y * y, P) === 0n;
}

/** python-spake2 `groups.password_to_scalar` for Ed25519. */
export function passwordToScalar(password: Uint8Array): bigint {
  assertBytes(password, 'password');
  const oversized = hkdf(sha256, password, new Uint8Array(0), utf8('SPAKE2 pw'), 32 + 16);
  return bytesToNumberBE(oversized) % L;
}

/** python-spake2 `ed25519_basic.arbitrary_element`: a subgroup element nobody knows the log of. */
export function arbitraryElement(seed: Uint8Array): Point {
  const hseed = hkdf(sha256, seed, new Uint8Array(0), utf8('SPAKE2 arbitrary element'), 32 + 16);
  const y0 = bytesToNumberBE(hseed) % P;
  for (let plus = 0n; ; plus++) {
    const y = (y0 + plus) % P;
    const x = xrecover(y);
    if (!isOnCurve(x, y)) continue;
    const p8 = Point.fromAffine({ x, y }).multiplyUnsafe(8n);
    if (p8.is0()) continue;
    return p8;
  }
}

/** python-spake2 `ed25519_basic.random_scalar`: 64 bytes of entropy reduced mod L. */
export function randomScalar(randomBytes: RandomBytes): bigint {
  const entropy = randomBytes(64);
  assertBytes(entropy, 'randomBytes(64)', 64);
  return bytesToNumberBE(entropy) % L;
}

let cachedS: Point | undefined;
/**
 * The symmetric-mode blinding element S = arbitrary_element(b"symmetric"), with a precomputed table
 * (built once, on first use) so pw·S costs a fixed-base multiplication, like x·B, not a variable-base one.
 */
export function elementS(): Point {
  return (cachedS ??= arbitraryElement(utf8('symmetric')).precompute(S_TABLE_WINDOW, false));
}
/** noble's window for B's table: 6 bits (a table of 43 × 32 points, built in a few ms). */
const S_TABLE_WINDOW = 6;

/** Decode an inbound element and insist it is a non-identity member of the prime-order subgroup. */
function bytesToElement(bytes: Uint8Array): Point {
  let point: Point;
  try {
    point = Point.fromBytes(bytes);
  } catch (cause) {
    throw new CryptoError('SPAKE2: the peer sent bytes that are not a curve point', { cause: String(cause) });
  }
  if (point.is0()) throw new CryptoError('SPAKE2: the peer sent the identity element');
  if (!point.isTorsionFree()) throw new CryptoError('SPAKE2: the peer sent a point outside the prime-order subgroup');
  return point;
}

/**
 * One side of a symmetric SPAKE2 exchange. `start()` once, send its message, `finish(theirs)` once.
 *
 * @example
 * const a = new Spake2Symmetric(utf8('7-crossover-clockwork'), utf8(appid), randomBytes);
 * const msgA = a.start();            // 33 bytes, send to the peer
 * const key = a.finish(msgB);        // 32 bytes, equal on both sides iff the passwords match
 */
export class Spake2Symmetric {
  readonly #password: Uint8Array;
  readonly #idSymmetric: Uint8Array;
  readonly #randomBytes: RandomBytes;
  #pwScalar: bigint;
  /** pw·S, needed to blind our message and to unblind theirs: computed once. */
  #pwBlinding: Point | undefined;
  #xScalar = 0n;
  #outbound: Uint8Array | undefined;
  #finished = false;

  constructor(password: Uint8Array, idSymmetric: Uint8Array, randomBytes: RandomBytes) {
    assertBytes(password, 'password');
    assertBytes(idSymmetric, 'idSymmetric');
    if (typeof randomBytes !== 'function') throw new InvalidArgumentError('"randomBytes" expected a function');
    this.#password = password;
    this.#idSymmetric = idSymmetric;
    this.#randomBytes = randomBytes;
    this.#pwScalar = passwordToScalar(password);
  }

  /** Returns the 33-byte outbound message ('S' ‖ point). May be called once. */
  start(): Uint8Array {
    if (this.#outbound) throw new CryptoError('SPAKE2: start() may only be called once');
    this.#xScalar = randomScalar(this.#randomBytes);
    if (this.#xScalar === 0n) throw new CryptoError('SPAKE2: the random source returned a zero scalar');
    this.#pwBlinding = scalarMult(elementS(), this.#pwScalar);
    const blinded = Point.BASE.multiply(this.#xScalar).add(this.#pwBlinding);
    this.#outbound = blinded.toBytes();
    return concatBytes(Uint8Array.of(SIDE_SYMMETRIC), this.#outbound);
  }

  /** Takes the peer's 33-byte message and returns the 32-byte shared key. May be called once. */
  finish(inboundSideAndMessage: Uint8Array): Uint8Array {
    assertBytes(inboundSideAndMessage, 'inbound message');
    const outbound = this.#outbound;
    if (!outbound) throw new CryptoError('SPAKE2: call start() before finish()');
    if (this.#finished) throw new CryptoError('SPAKE2: finish() may only be called once');
    this.#finished = true;
    if (inboundSideAndMessage.length !== SPAKE2_MESSAGE_LENGTH) {
      throw new CryptoError(`SPAKE2: expected a ${SPAKE2_MESSAGE_LENGTH}-byte message, got ${inboundSideAndMessage.length}`);
    }
    const side = inboundSideAndMessage[0];
    if (side !== SIDE_SYMMETRIC) {
      throw new CryptoError(`SPAKE2: expected a symmetric message (side 'S'), got side byte 0x${side!.toString(16)}`);
    }
    const inbound = inboundSideAndMessage.subarray(1);
    const inboundElement = bytesToElement(inbound);
    // Decoding is strict (canonical encodings only), so equal points have equal bytes: no re-encoding.
    if (compareBytes(inbound, outbound) === 0) {
      throw new CryptoError('SPAKE2: the peer reflected our own message back (reflection thwarted)');
    }
    const unblinded = inboundElement.subtract(this.#pwBlinding!);
    const k = unblinded.is0() ? unblinded : unblinded.multiply(this.#xScalar);
    return finalizeSymmetric(this.#idSymmetric, inbound, outbound, k.toBytes(), this.#password);
  }
}

/** x·Pt allowing x = 0 (python-spake2's Element.scalarmult returns Zero there). */
function scalarMult(point: Point, scalar: bigint): Point {
  return scalar === 0n ? Point.ZERO : point.multiply(scalar);
}

/** python-spake2 `finalize_SPAKE2_symmetric`. */
export function finalizeSymmetric(idSymmetric: Uint8Array, msg1: Uint8Array, msg2: Uint8Array, kBytes: Uint8Array, password: Uint8Array): Uint8Array {
  const [first, second] = compareBytes(msg1, msg2) <= 0 ? [msg1, msg2] : [msg2, msg1];
  return sha256(concatBytes(sha256(password), sha256(idSymmetric), first, second, kBytes));
}
