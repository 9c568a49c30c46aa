/**
 * How long the wormhole machine waits for what, and how often it retries: one place for every number.
 * @module
 */

/** How long the wormhole machine waits for each step, and how it retries a lost relay. */
export interface WormholeTimeouts {
  /** Waiting for a socket to open. */
  connectMs: number;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /**
   * Failed connection attempts in a row before giving up with ConnectionLostError (RelayBusyError when
   * the relay kept refusing the upgrade as busy: HTTP 429 / 503).
   */
  maxReconnects: number;
  /**
   * Attempts before the relay ever answered: a relay that never answers is more likely a wrong URL
   * than a flaky network, so fail fast (as magic-wormhole does).
   */
  maxInitialAttempts: number;
  /** The whole exchange: the other side shows up, proves the key and we are done (closed). */
  peerMs: number;
  /** Waiting for the server to confirm `close`. */
  closeMs: number;
}

/** The wormhole timeouts used when the input sets none. */
export const DEFAULT_TIMEOUTS: Readonly<WormholeTimeouts> = Object.freeze({
  connectMs: 15_000,
  reconnectBaseMs: 250,
  reconnectMaxMs: 10_000,
  maxReconnects: 8,
  maxInitialAttempts: 3,
  peerMs: 10 * 60_000,
  closeMs: 5_000,
});
