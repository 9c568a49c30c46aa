/**
 * The `transit` mailbox message: which connection kinds a side can use and where to reach it
 * (magic-wormhole's `abilities-v1` / `hints-v1`). We never listen, so we offer relay hints only and
 * use only relay hints: all transit traffic goes to transit relays, never to a peer's addresses.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { ByteStreamAddress } from '../effects/byteStream.js';

/** The body of a `transit` mailbox message: abilities and connection hints, as magic-wormhole sends them. */
export interface TransitMessage {
  'abilities-v1': { type: string }[];
  'hints-v1': unknown[];
}

/** The most relay endpoints we take from a peer: each is one connection attempt. */
export const MAX_PEER_RELAYS = 8;

/** `tcp:HOST:PORT` (magic-wormhole's --transit-helper form) → host and port. */
export function parseTransitHelper(text: string): ByteStreamAddress {
  const m = /^tcp:(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`a transit relay is tcp:HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Host and port → `tcp:HOST:PORT` (IPv6 hosts in brackets), the inverse of {@link parseTransitHelper}. */
export function formatTransitHelper(address: ByteStreamAddress): string {
  return `tcp:${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Our `transit` message: the relay ability and one relay hint per transit relay we use. */
export function transitMessage(relays: readonly ByteStreamAddress[]): TransitMessage {
  return {
    'abilities-v1': [{ type: 'relay-v1' }],
    'hints-v1': relays.map((r) => ({ type: 'relay-v1', hints: [{ type: 'direct-tcp-v1', priority: 0.0, hostname: r.host, port: r.port }] })),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The relay endpoints in a peer's `transit` message (its direct hints are ignored: we never dial a
 * peer's own addresses). Malformed entries are skipped, never thrown on; at most `MAX_PEER_RELAYS` (8).
 */
export function relayHintsOf(message: unknown): ByteStreamAddress[] {
  const hints = isRecord(message) && Array.isArray(message['hints-v1']) ? message['hints-v1'] : [];
  const out: ByteStreamAddress[] = [];
  for (const hint of hints) {
    if (!isRecord(hint) || hint.type !== 'relay-v1' || !Array.isArray(hint.hints)) continue;
    for (const inner of hint.hints) {
      if (!isRecord(inner) || inner.type !== 'direct-tcp-v1') continue;
      const { hostname, port } = inner;
      if (typeof hostname !== 'string' || hostname.length === 0 || hostname.length > 253) continue;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
      if (out.length < MAX_PEER_RELAYS) out.push({ host: hostname, port });
    }
  }
  return out;
}

/** Ours first, then the peer's, each endpoint once. */
export function mergeRelays(ours: readonly ByteStreamAddress[], theirs: readonly ByteStreamAddress[]): ByteStreamAddress[] {
  const seen = new Set<string>();
  return [...ours, ...theirs].filter((r) => {
    const key = `${r.host.toLowerCase()}:${r.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
