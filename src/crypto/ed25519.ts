/**
 * Ed25519 public keys and signatures from a 32-byte seed (RFC 8032), synchronous everywhere: Node's
 * OpenSSL where the runtime has it (about twenty times faster than pure JavaScript: a device opening
 * 1,000 contacts derives 1,000 topic keys and signs 1,000 proofs), else @noble/curves. Ed25519 is
 * deterministic, so both give the same bytes (test/topic-key.test.ts checks them against each other).
 *
 * WebCrypto's Ed25519 is asynchronous, and the machines that prove topics are not, so browsers take
 * the noble path.
 * @module
 */
import { ed25519 as noble } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from './bytes.js';

/** One Ed25519 implementation: public key of a seed, signature of a message by a seed. */
export interface Ed25519 {
  readonly name: string;
  publicKey(seed: Uint8Array): Uint8Array;
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
}

/** Pure JavaScript, in every runtime. */
export const nobleEd25519: Ed25519 = {
  name: '@noble/curves',
  publicKey: (seed) => noble.getPublicKey(seed),
  sign: (message, seed) => noble.sign(message, seed),
};

const base64url = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
const NO_X = 'A'.repeat(43);

/** RFC 8032 §7.1, TEST 1 (the empty message): checked once before Node's Ed25519 is trusted. */
export const RFC8032_TEST1 = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

/** The slice of Node's `node:crypto` used here, described rather than imported (this module stays free of Node). */
interface NodeKeyObject {
  export(options: { format: 'jwk' }): { x?: string };
}
interface NodeCrypto {
  createPrivateKey(options: { key: Record<string, string>; format: 'jwk' }): NodeKeyObject;
  sign(algorithm: null, data: Uint8Array, key: NodeKeyObject): Uint8Array;
}

/** Node's crypto module where the runtime has one, found at run time: nothing for a browser bundle to resolve. */
function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
}

/** Node's OpenSSL Ed25519, or undefined where there is none. */
export const nodeEd25519: Ed25519 | undefined = ((crypto) => {
  if (!crypto) return undefined;
  // A key object per seed: parsing the seed costs about as much as a signature.
  const keys = new WeakMap<Uint8Array, NodeKeyObject>();
  const privateKey = (seed: Uint8Array) => {
    let key = keys.get(seed);
    // From a JWK: Node builds it from the raw seed (`d`), four times faster than parsing PKCS#8, and
    // takes no public half from `x` (a placeholder here; the RFC 8032 check below would catch it).
    if (!key) keys.set(seed, (key = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: base64url(seed), x: NO_X }, format: 'jwk' })));
    return key;
  };
  const impl: Ed25519 = {
    name: 'node:crypto',
    publicKey: (seed) => new Uint8Array(Buffer.from(privateKey(seed).export({ format: 'jwk' }).x!, 'base64url')),
    sign: (message, seed) => new Uint8Array(crypto.sign(null, message, privateKey(seed))),
  };
  try {
    // A runtime that names node:crypto but lacks Ed25519 (or answers differently) takes noble's path.
    const ok =
      toHex(impl.publicKey(fromHex(RFC8032_TEST1.seed))) === RFC8032_TEST1.publicKey &&
      toHex(impl.sign(new Uint8Array(0), fromHex(RFC8032_TEST1.seed))) === RFC8032_TEST1.signature;
    if (!ok) return undefined;
  } catch {
    return undefined;
  }
  return impl;
})(nodeCrypto());

/** The fastest Ed25519 this runtime has. */
export const ed25519: Ed25519 = nodeEd25519 ?? nobleEd25519;

/** The slice of `node:crypto` that checks signatures. */
interface NodeVerify {
  createPublicKey(options: { key: Record<string, string>; format: 'jwk' }): unknown;
  verify(algorithm: null, data: Uint8Array, key: unknown, signature: Uint8Array): boolean;
}

/**
 * Node's OpenSSL Ed25519 check (a key object per public key, the last 1,024 kept: a channel's
 * messages come from a handful of devices), or undefined where there is none or it disagrees with RFC 8032.
 */
const nodeVerify = ((crypto) => {
  if (!crypto || typeof crypto.verify !== 'function') return undefined;
  const keys = new Map<string, unknown>();
  const check = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean => {
    const id = toHex(publicKey);
    let key = keys.get(id);
    if (key === undefined) {
      if (keys.size >= 1024) keys.clear();
      keys.set(id, (key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url(publicKey) }, format: 'jwk' })));
    }
    return crypto.verify(null, message, key, signature);
  };
  try {
    const good = fromHex(RFC8032_TEST1.signature);
    const bad = good.slice();
    bad[0]! ^= 1;
    const pub = fromHex(RFC8032_TEST1.publicKey);
    if (!check(good, new Uint8Array(0), pub) || check(bad, new Uint8Array(0), pub)) return undefined;
  } catch {
    return undefined;
  }
  return check;
})(nodeCrypto() as unknown as NodeVerify | undefined);

/**
 * Whether `signature` is `publicKey`'s Ed25519 signature of `message` (RFC 8032; Node's OpenSSL where
 * there is one, about twenty times faster, else @noble/curves). False for anything malformed: never throws.
 */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  try {
    return nodeVerify ? nodeVerify(signature, message, publicKey) : noble.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
