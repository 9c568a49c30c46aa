/**
 * Every buffer or table a client can grow has a bound here. Defaults suit a public relay on a small
 * machine; `startRelay({ limits })` overrides any of them.
 * @module
 */
import type { StoreLimits } from './store.js';

export interface RelayLimits extends StoreLimits {
  /** Largest WebSocket frame accepted; bigger frames close the connection with 1009. */
  maxFrameBytes: number;
  /** Connections open at once, in total. */
  maxConnections: number;
  /** Connections open at once from one remote address. */
  maxConnectionsPerAddress: number;
  /** Bytes queued towards one slow client; beyond this the connection is dropped. */
  maxBufferedBytes: number;
  /** Frames from one connection waiting to be processed; beyond this the connection is closed. */
  maxQueuedFrames: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /** A mailbox nobody touched for this long is deleted, with its nameplate. */
  mailboxTtlMs: number;
  /** How often expiry runs. */
  pruneIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 2_500,
  maxQueuedFrames: 64,
  maxBufferedBytes: 8 * 1024 * 1024,
  idleTimeoutMs: 10 * 60_000,
  mailboxTtlMs: 2 * 60 * 60_000,
  pruneIntervalMs: 60_000,
  maxMessagesPerMailbox: 1_000,
  maxMailboxBodyChars: 8 * 1024 * 1024,
  maxNameplatesPerApp: 100_000,
  maxMailboxesPerApp: 100_000,
});
