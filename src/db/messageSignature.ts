/**
 * Author signatures on messages. Every message a device writes carries `sig`: its System key's
 * Ed25519 signature over {@link messageSignatureBytes} — a purpose, the channel's document id and every
 * field that says what the message is (id, time, sender, text, file, notice). A device checks each
 * message a peer's change adds against the key of the device its `sender` names, from the sets it has
 * proven: my own devices' list, the contact's set as its channel proves it from the card's key.
 *
 * The rules ({@link checkSender}, for a message from a peer):
 *   - naming one of my devices: it must verify with that device's key, else the change is refused;
 *   - naming a device of the contact's proven set: it must verify with that device's key; unsigned, it
 *     is refused when the set statement that proves the device says its devices sign (`signs`: every
 *     statement this version makes), else taken only from the device the contact paired with (the
 *     card's key: its history from before signatures), and counts as unverified;
 *   - naming a device no proven set names (a contact that never linked a device publishes no set, nor
 *     does an older version): nothing can check it. Unsigned, it is refused once the contact's proven
 *     set says its devices sign (no device of it wrote it); otherwise taken as before (the peer rules
 *     let the peer write only in its own name there) and unverified.
 * A signature binds the channel, so a message copied into another channel does not verify there.
 * Pure: bytes and keys in, verdicts out.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8 } from '../crypto/bytes.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import { textOf, type FileRef, type Message } from './schema.js';

/** The purpose string every message signature starts from (a signature made for anything else never verifies here). */
export const MESSAGE_SIGNATURE_PURPOSE = 'backchannel:message:v1';

/** The fields of a message a signature covers (everything but `sig`). */
export type SignedFields = Omit<Message, 'sig'>;

/**
 * What a message's signature signs: each field as a 4-byte big-endian length and its UTF-8 bytes, in
 * order — the purpose, the channel's document id, id, timestamp and sender, text, then `1` and the
 * file's hash, size, filename, mimetype or `0` for none, then `1` and the notice or `0`. Numbers as
 * JavaScript writes them (`String(n)`). Lengths make it unambiguous: no two messages share bytes.
 */
export function messageSignatureBytes(channel: string, m: SignedFields): Uint8Array {
  const fields = [MESSAGE_SIGNATURE_PURPOSE, channel, m.id, String(m.timestamp), m.sender, m.text];
  if (m.file) fields.push('1', m.file.hash, String(m.file.size), m.file.filename, m.file.mimetype);
  else fields.push('0');
  if (m.notice !== undefined) fields.push('1', m.notice);
  else fields.push('0');
  const parts = fields.map((f) => utf8(f));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** The `sig` of a message in `channel`: the 64 bytes `sign` (e.g. `Database.sign`) makes of {@link messageSignatureBytes}. */
export function signMessage(channel: string, m: SignedFields, sign: (bytes: Uint8Array) => Uint8Array): Uint8Array {
  return sign(messageSignatureBytes(channel, m));
}

/** A signature as a document holds it: 64 bytes, or 128 hex digits (what the first signing version wrote); undefined for anything else. */
export function signatureBytes(sig: unknown): Uint8Array | undefined {
  if (sig instanceof Uint8Array) return sig.length === 64 ? sig : undefined;
  return typeof sig === 'string' && /^[0-9a-f]{128}$/.test(sig) ? fromHex(sig) : undefined;
}

/** Whether `sig` (64 bytes, or legacy hex) is `publicKey`'s (hex) signature of `m` in `channel`. False for anything malformed. */
export function verifyMessage(channel: string, m: SignedFields, sig: Uint8Array | string | undefined, publicKey: string): boolean {
  const bytes = signatureBytes(sig);
  if (bytes === undefined || !/^[0-9a-f]{64}$/.test(publicKey)) return false;
  return verifyEd25519(bytes, messageSignatureBytes(channel, m), fromHex(publicKey));
}

/** The keys a device checks a channel's senders with: what it has proven, nothing a peer merely said. */
export interface SenderKeys {
  /** My other devices: device id → public key (hex). */
  mine: ReadonlyMap<string, string>;
  /** The contact's devices as the channel proves them from the card's key: device id → public keys (hex). */
  theirs: ReadonlyMap<string, ReadonlySet<string>>;
  /** The key the contact's card records (the device it paired with), if any. */
  paired?: string;
  /**
   * The contact's devices whose proven set statement says they sign (`signs`: every statement this
   * version makes): an unsigned message in the name of one is refused, and once there is any, so is
   * an unsigned one naming a device outside the set.
   */
  signing?: ReadonlySet<string>;
  /**
   * The history the channel's devices vouch for (see `vouchedHistory`): `<sender>:<digest>` of
   * unsigned messages their writers listed, in legacy notices signed by them. Asked only for an
   * unsigned message that would otherwise be refused.
   */
  vouched?: () => ReadonlySet<string>;
}

/**
 * What a message from a peer proves (see the module comment): `verified` — signed by the key of the
 * device it names; `unverified` — nothing this device holds can check it, taken as before; or a
 * `problem`, and the change that carries it is refused.
 */
export type SenderVerdict = { verdict: 'verified' } | { verdict: 'unverified' } | { verdict: 'refused'; problem: string };

/** The verdict on `m` (with its `sig`, if any) arriving from a peer in `channel`, by `keys`. */
export function checkSender(channel: string, m: SignedFields & { sig?: Uint8Array | string }, keys: SenderKeys): SenderVerdict {
  const verdict = checkSignature(channel, m, keys);
  // History from before signatures that its writer has since vouched for, signed (legacyNotices).
  if (verdict.verdict === 'refused' && m.sig === undefined && keys.vouched?.().has(`${m.sender}:${legacyDigest(channel, m)}`)) return { verdict: 'verified' };
  return verdict;
}

function checkSignature(channel: string, m: SignedFields & { sig?: Uint8Array | string }, keys: SenderKeys): SenderVerdict {
  const mine = keys.mine.get(m.sender);
  if (mine !== undefined) {
    if (m.sig === undefined) return { verdict: 'refused', problem: 'names a device of mine but is not signed' };
    return verifyMessage(channel, m, m.sig, mine)
      ? { verdict: 'verified' }
      : { verdict: 'refused', problem: "names a device of mine but its signature is not that device's" };
  }
  const theirs = keys.theirs.get(m.sender);
  if (theirs !== undefined) {
    if (m.sig === undefined) {
      if (keys.signing?.has(m.sender)) return { verdict: 'refused', problem: 'names a device of the contact that signs its messages but is not signed' };
      // History from before signatures: only the device the contact paired with may have written it.
      if (keys.paired !== undefined && theirs.has(keys.paired)) return { verdict: 'unverified' };
      return { verdict: 'refused', problem: 'names a device of the contact but is not signed' };
    }
    for (const key of theirs) if (verifyMessage(channel, m, m.sig, key)) return { verdict: 'verified' };
    return { verdict: 'refused', problem: "names a device of the contact but its signature is not that device's" };
  }
  // Outside every proven set: once the set says its devices sign, an unsigned one is no device of it.
  if (m.sig === undefined && (keys.signing?.size ?? 0) > 0)
    return { verdict: 'refused', problem: 'names no device of the contact’s set, which signs its messages, and is not signed' };
  return { verdict: 'unverified' };
}

/**
 * A message as a legacy notice names it: the first 16 bytes of SHA-256 over its signed bytes
 * ({@link messageSignatureBytes}: the channel, the sender and every field), hex.
 */
export function legacyDigest(channel: string, m: SignedFields): string {
  return toHex(sha256(messageSignatureBytes(channel, m)).subarray(0, 16));
}

/** Digests per legacy notice: well within a notice's text limit (35 characters each). */
export const LEGACY_PER_NOTICE = 1000;

/**
 * The notices with which a device vouches for its own messages in `channel` from before signatures
 * (`unsigned`: those it wrote, unsigned): `{"legacy":[digest…]}`, {@link LEGACY_PER_NOTICE} at most
 * each. Written as signed messages of that device, they make those messages verified wherever its key
 * is known — a device linked later, or a contact whose set of that device says it signs.
 */
export function legacyNotices(channel: string, unsigned: readonly SignedFields[]): string[] {
  const digests = unsigned.map((m) => legacyDigest(channel, m));
  const out: string[] = [];
  for (let i = 0; i < digests.length; i += LEGACY_PER_NOTICE) out.push(JSON.stringify({ legacy: digests.slice(i, i + LEGACY_PER_NOTICE) }));
  return out;
}

/** The digests a legacy notice lists, or undefined if `notice` is none. */
export function legacyOf(notice: string | undefined): string[] | undefined {
  if (notice === undefined || !notice.startsWith('{"legacy"')) return undefined;
  try {
    const list = (JSON.parse(notice) as { legacy?: unknown }).legacy;
    return Array.isArray(list) ? list.filter((d): d is string => typeof d === 'string' && /^[0-9a-f]{32}$/.test(d)) : undefined;
  } catch {
    return undefined;
  }
}

/** A message as its signature covers it, from a document value (strings as plain text). */
export function signedFieldsOf(value: unknown): SignedFields & { sig?: Uint8Array | string } {
  const m = (value ?? {}) as Record<string, unknown>;
  const f = m.file as Record<string, unknown> | undefined;
  const file: FileRef | undefined = f && {
    filename: textOf(f.filename) ?? '',
    mimetype: textOf(f.mimetype) ?? '',
    size: f.size as number,
    hash: textOf(f.hash) ?? '',
  };
  return {
    id: textOf(m.id) ?? '',
    timestamp: m.timestamp as number,
    sender: textOf(m.sender) ?? '',
    text: textOf(m.text) ?? '',
    ...(file ? { file } : {}),
    ...(m.notice === undefined ? {} : { notice: textOf(m.notice) ?? '' }),
    ...(m.sig === undefined ? {} : { sig: m.sig instanceof Uint8Array ? m.sig : (textOf(m.sig) ?? '') }),
  };
}

/**
 * What the legacy notices among a channel's `messages` (document values) vouch for: `<sender>:<digest>`
 * for each digest a notice lists whose own signature verifies with a key `keysOf` gives for its sender
 * (what this device proved: mine, or the contact's set). A device vouches only for its own messages:
 * the digest covers the sender, and the pair names the notice's writer.
 */
export function vouchedHistory(channel: string, messages: readonly unknown[], keysOf: (sender: string) => Iterable<string> | undefined): Set<string> {
  const out = new Set<string>();
  for (const value of messages) {
    const digests = legacyOf(textOf((value as { notice?: unknown } | null)?.notice));
    if (!digests?.length) continue;
    const m = signedFieldsOf(value);
    const keys = keysOf(m.sender);
    if (keys === undefined || ![...keys].some((k) => verifyMessage(channel, m, m.sig, k))) continue;
    for (const d of digests) out.add(`${m.sender}:${d}`);
  }
  return out;
}
