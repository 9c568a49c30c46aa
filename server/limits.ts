/**
 * Every buffer, table and rate a client can push on has a bound here. Defaults suit a public relay on
 * a small machine; `startRelay({ limits })`, `backchannel relay --max-… N` or a `--config` file
 * override any of them. {@link LIMIT_DOCS} describes each one; the CLI's flags and help are generated
 * from it.
 * @module
 */
import type { StoreLimits } from './store.js';

/** Every bound the mailbox relay enforces: the store's, plus connections, frames, queues, timeouts, and claim and list rates. */
export interface RelayLimits extends StoreLimits {
  /** Largest WebSocket frame accepted; bigger frames close the connection with 1009. */
  maxFrameBytes: number;
  /** Connections open at once, in total. */
  maxConnections: number;
  /** Connections open at once from one remote address. */
  maxConnectionsPerAddress: number;
  /** New connections one address may open in a burst … */
  connectionBurstPerAddress: number;
  /** … and then per minute. */
  connectionsPerMinutePerAddress: number;
  /** Bytes queued towards one slow client; beyond this the connection is dropped. */
  maxBufferedBytes: number;
  /** Frames from one connection waiting to be processed; beyond this the connection is closed. */
  maxQueuedFrames: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /**
   * The relay pings every connection this often (WebSocket ping; browsers and `ws` answer by
   * themselves); one that answered nothing since the previous ping is dropped, so a device that vanished
   * without closing (offline, frozen, its machine gone) is gone within 2 × this, and its peers hear `left`.
   * 0: no heartbeat.
   */
  heartbeatMs: number;
  /** A mailbox nobody touched for this long is deleted, with its nameplate. */
  mailboxTtlMs: number;
  /** How often expiry runs. */
  pruneIntervalMs: number;
  /** Longest appid, nameplate, mailbox id or phase a client may send. */
  maxNameChars: number;
  /** Message bytes one connection may have added to the store. */
  maxBytesPerConnection: number;
  /** Message bytes the connections from one address may have in the store at once. */
  maxBytesPerAddress: number;
  /** Claims and allocations one address may make in a burst … */
  claimBurstPerAddress: number;
  /** … and then per minute. */
  claimsPerMinutePerAddress: number;
  /** Claims of one nameplate (by anyone) in a burst: each is a guess at its code … */
  claimBurstPerNameplate: number;
  /** … and then per minute. */
  claimsPerMinutePerNameplate: number;
  /** `list` requests one address may make in a burst … */
  listBurstPerAddress: number;
  /** … and then per minute. */
  listsPerMinutePerAddress: number;
}

/** The relay limits used when none are given: sized for a public relay on a small machine. */
export const DEFAULT_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 2_500,
  connectionBurstPerAddress: 200,
  connectionsPerMinutePerAddress: 600,
  maxQueuedFrames: 64,
  maxBufferedBytes: 8 * 1024 * 1024,
  idleTimeoutMs: 10 * 60_000,
  heartbeatMs: 10_000,
  mailboxTtlMs: 2 * 60 * 60_000,
  pruneIntervalMs: 60_000,
  maxNameChars: 128,
  maxBytesPerConnection: 2 * 1024 * 1024,
  maxBytesPerAddress: 8 * 1024 * 1024,
  claimBurstPerAddress: 100,
  claimsPerMinutePerAddress: 60,
  claimBurstPerNameplate: 10,
  claimsPerMinutePerNameplate: 4,
  listBurstPerAddress: 30,
  listsPerMinutePerAddress: 60,
  maxMessagesPerMailbox: 1_000,
  maxMailboxBytes: 2 * 1024 * 1024,
  maxStoreBytes: 64 * 1024 * 1024,
  maxAppids: 1_000,
  maxNameplatesPerApp: 100_000,
  maxMailboxesPerApp: 100_000,
});

/** One line per limit, for `--help`, `--print-config` and docs/server-operations.md. */
export const LIMIT_DOCS: Readonly<Record<keyof RelayLimits, string>> = Object.freeze({
  maxFrameBytes: 'largest WebSocket frame; bigger closes the connection (1009)',
  maxConnections: 'connections open at once, in total (HTTP 503 beyond)',
  maxConnectionsPerAddress: 'connections open at once from one address (HTTP 429 beyond)',
  connectionBurstPerAddress: 'new connections one address may open in a burst (HTTP 429 beyond)',
  connectionsPerMinutePerAddress: 'new connections per minute per address after the burst',
  maxQueuedFrames: 'frames in flight on one connection (closed with 1008 beyond)',
  maxBufferedBytes: 'bytes queued towards one slow reader before it is dropped',
  idleTimeoutMs: 'a silent connection is closed after this many ms',
  heartbeatMs: 'ping every connection this often; one silent since the last ping is dropped (its peers hear `left`); 0: off',
  mailboxTtlMs: 'a mailbox nobody listens to or touches is deleted after this many ms',
  pruneIntervalMs: 'how often expiry runs, in ms',
  maxNameChars: 'longest appid, nameplate, mailbox id or phase',
  maxBytesPerConnection: 'message bytes one connection may add to the pairing store',
  maxBytesPerAddress: 'message bytes one address may hold in the pairing store',
  claimBurstPerAddress: 'claims and allocations one address may make in a burst',
  claimsPerMinutePerAddress: 'claims and allocations per minute per address after the burst',
  claimBurstPerNameplate: 'claims of one nameplate in a burst (each is a guess at its code)',
  claimsPerMinutePerNameplate: 'claims per minute per nameplate after the burst',
  listBurstPerAddress: '`list` requests one address may make in a burst',
  listsPerMinutePerAddress: '`list` requests per minute per address after the burst',
  maxMessagesPerMailbox: 'messages one mailbox may hold',
  maxMailboxBytes: 'bytes one mailbox may hold (bodies, phases, sides, ids)',
  maxStoreBytes: 'bytes the whole pairing store may hold, over every appid',
  maxAppids: 'distinct appids with nameplates or mailboxes at once',
  maxNameplatesPerApp: 'nameplates one appid may have at once',
  maxMailboxesPerApp: 'mailboxes one appid may have at once',
});

/** Check a partial set of limits (from a config file or flags): known names, whole numbers ≥ 0. */
export function checkLimits(input: Record<string, unknown>, where: string): Partial<RelayLimits> {
  const out: Partial<RelayLimits> = {};
  for (const [name, value] of Object.entries(input)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) throw new RangeError(`${where}: unknown limit '${name}'`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${where}: limit '${name}' must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    }
    out[name as keyof RelayLimits] = value;
  }
  return out;
}
