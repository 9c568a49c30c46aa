/**
 * Randomness is injected so tests are deterministic and hosts can supply their own CSPRNG.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** Returns `length` bytes from a cryptographically secure source. */
export type RandomBytes = (length: number) => Uint8Array;

/** The platform CSPRNG (WebCrypto `getRandomValues`), present in browsers and Node ≥ 19. */
export const cryptoRandomBytes: RandomBytes = (length) => {
  if (!Number.isInteger(length) || length < 0) throw new InvalidArgumentError(`randomBytes: bad length ${length}`);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
};
