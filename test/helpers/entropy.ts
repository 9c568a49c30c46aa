import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from '../../src/crypto/bytes.js';

/**
 * The deterministic entropy the vectors were generated with: the stream
 * sha256(seed ‖ be32(0)) ‖ sha256(seed ‖ be32(1)) ‖ …, read on across calls.
 */
export function vectorEntropy(seed: string): (n: number) => Uint8Array {
  let counter = 0;
  let buffer: Uint8Array = new Uint8Array(0);
  return (n) => {
    while (buffer.length < n) {
      const be = new Uint8Array(4);
      new DataView(be.buffer).setUint32(0, counter++);
      buffer = concatBytes(buffer, sha256(concatBytes(utf8(seed), be)));
    }
    const out = buffer.slice(0, n);
    buffer = buffer.slice(n);
    return out;
  };
}
