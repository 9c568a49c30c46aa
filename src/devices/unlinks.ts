/**
 * Which unlink notices count (docs/threat-model.md, Unlinking and key rotation). An unlinked device
 * keeps the old set key and its own signing key: it can still write `{"unlink": <an honest device>}`
 * into our old own channel, signed, and a device back from being away reads both unlinks at once. So:
 *   - a notice counts only if it verifies as written by the device it names as sender, one of mine;
 *   - a notice counts only if its signer is not itself unlinked by a notice that counts (the grounded
 *     reading: a device nobody unlinks stands; what a standing device unlinks is out; what only devices
 *     that are out unlink stands; repeat);
 *   - what that leaves undecided is a cycle of unlinks (A unlinks X while X unlinks A). There the
 *     device unlinked by the most distinct undecided signers is out, if strictly more than any other
 *     undecided device is; then the grounded reading goes on. A tie stays undecided: both devices are
 *     `contested` — neither is removed, neither is trusted to rotate or unlink — until another of my
 *     devices unlinks one of them too. One unlinked device alone therefore never removes a device the
 *     user kept: it is one signer, and the user's devices are as many.
 * Pure: notices in, a verdict out, the same on every device that knows the same devices.
 * @module
 */
import { verifyMessage, type SignedFields } from '../db/messageSignature.js';

/** One unlink notice as read: the device that wrote it (its signature checked), the device it unlinks. */
export interface UnlinkEdge {
  by: string;
  target: string;
}

/** My devices as the unlink notices leave them: `out` (unlinked by a notice that counts), `contested` (in an unresolved cycle). */
export interface UnlinkStanding {
  out: Set<string>;
  contested: Set<string>;
  /** For each device out, one signer whose counted notice unlinked it. */
  by: Map<string, string>;
}

/** The standing of `known` (device ids, this one included) under `edges` (see the module comment). */
export function unlinkStanding(edges: readonly UnlinkEdge[], known: ReadonlySet<string>): UnlinkStanding {
  const attackers = new Map<string, Set<string>>();
  for (const { by, target } of edges) {
    if (by === target || !known.has(by) || !known.has(target)) continue;
    const set = attackers.get(target) ?? new Set<string>();
    set.add(by);
    attackers.set(target, set);
  }
  const nodes = new Set<string>();
  for (const [target, set] of attackers) {
    nodes.add(target);
    for (const a of set) nodes.add(a);
  }
  const label = new Map<string, 'in' | 'out'>();
  const by = new Map<string, string>();
  for (;;) {
    for (let changed = true; changed;) {
      changed = false;
      for (const d of nodes) {
        if (label.has(d)) continue;
        const atk = [...(attackers.get(d) ?? [])];
        const standing = atk.filter((a) => label.get(a) === 'in').sort()[0];
        if (standing !== undefined) {
          label.set(d, 'out');
          by.set(d, standing);
          changed = true;
        } else if (atk.every((a) => label.get(a) === 'out')) {
          label.set(d, 'in');
          changed = true;
        }
      }
    }
    const undecided = [...nodes].filter((d) => !label.has(d));
    if (undecided.length === 0) break;
    // A cycle: the device the most undecided signers unlink is out, if strictly the most.
    const votes = new Map(undecided.map((d) => [d, [...(attackers.get(d) ?? [])].filter((a) => !label.has(a)).length]));
    const most = Math.max(...votes.values());
    const losers = undecided.filter((d) => votes.get(d) === most);
    // A tie at the top (two or more equally unlinked): nobody can tell the honest one, they stay contested.
    // Not "every undecided device": one unlinked by fewer (and unlinking nobody) would break the tie.
    if (most === 0 || losers.length > 1) break;
    const signers = new Map(losers.map((d) => [d, [...attackers.get(d)!].filter((a) => !label.has(a)).sort()[0]!]));
    for (const [d, a] of signers) {
      label.set(d, 'out');
      by.set(d, a);
    }
  }
  const out = new Set([...label].filter(([, l]) => l === 'out').map(([d]) => d));
  const contested = new Set([...nodes].filter((d) => !label.has(d)));
  return { out, contested, by };
}

/** The device an unlink notice's text names (`{"unlink":<id>}`), if it is one. */
export function unlinkTarget(text: string | undefined): string | undefined {
  if (!text || !text.startsWith('{"unlink"')) return undefined;
  try {
    const id = (JSON.parse(text) as { unlink?: unknown }).unlink;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The unlink notices among a channel's `messages` that count as written by a device of mine, as
 * edges: each names a device id (32 hex) and verifies with the key `keys` (device id → public key,
 * hex) holds for the device it names as its sender — or names `self` as its sender: a device whose
 * notices count unchecked (the depot's: the store takes no peer's message in this device's name).
 * Rotation passes no `self` but this device's key in `keys`: its own notices count as they verify.
 */
export function unlinkEdges(
  channel: string,
  messages: Iterable<SignedFields & { sig?: Uint8Array | string }>,
  keys: ReadonlyMap<string, string>,
  self?: string,
): UnlinkEdge[] {
  const edges: UnlinkEdge[] = [];
  for (const m of messages) {
    const target = unlinkTarget(m.text);
    if (target === undefined || !/^[0-9a-f]{32}$/.test(target)) continue;
    const key = keys.get(m.sender);
    if ((self !== undefined && m.sender === self) || (key !== undefined && verifyMessage(channel, m, m.sig, key))) edges.push({ by: m.sender, target });
  }
  return edges;
}
