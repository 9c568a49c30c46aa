/**
 * The wormhole machine's context before anything happened, from its input: a pure function, so a test
 * can start from the very state the machine starts from.
 * @module
 */
import { toHex } from '../../crypto/bytes.js';
import { DEFAULT_TIMEOUTS } from './timeouts.js';
import type { WormholeContext, WormholeInput } from './types.js';

export function initialContext(input: WormholeInput): WormholeContext {
  return {
    appid: input.appid,
    url: input.url,
    connector: input.connector,
    side: input.side ?? toHex(input.randomBytes(5)),
    seed: input.randomBytes(32),
    codeWords: input.codeWords ?? 2,
    expectPeer: input.expectPeer ?? false,
    appVersions: input.appVersions ?? {},
    timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
    code: input.code,
    nameplate: input.code?.split('-')[0],
    verified: false,
    pending: [],
    outbox: [],
    nextTxPhase: 0,
    processed: [],
    early: [],
    rxBuffer: {},
    nextRxPhase: 0,
    socketOpen: false,
    mailboxOpened: false,
    attempts: 0,
    everConnected: false,
  };
}
