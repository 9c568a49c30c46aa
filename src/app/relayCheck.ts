/**
 * Does the relay serve DISCOVER? Pairing needs only the magic-wormhole mailbox (`/v1`); finding and
 * syncing contacts needs Backchannel's `/backchannel/v2` beside it, which a plain magic-wormhole
 * mailbox server (e.g. the public one) does not have. The app runs this check with its links, once per
 * relay:
 *
 *   `/backchannel/v2` answers a ping                       → supported (the check ends)
 *   the upgrade is refused with an HTTP status (Node: ws)  → unsupported
 *   it closes before any frame while `/v1` on the same relay answers, twice in a row → unsupported
 *     (a browser cannot see the HTTP status; the mailbox answering is what tells "no such endpoint"
 *     from "relay unreachable")
 *   neither answers                                        → unreachable: try again later, quietly
 *     (the links report an unreachable relay themselves)
 *
 * The DISCOVER question goes through `discoverConnector` when the input has one: the device's
 * multiplexed connection (`discover/relayMux.ts`), so the check opens no socket of its own beside it
 * (the relay's `challenge`, which the mux gives every socket on the connection, is its answer). The mailbox
 * question always takes `connector`: `/v1` is not multiplexed.
 * @module
 */
import { fromCallback } from 'xstate';
import { systemClock } from '../effects/clock.js';
import { RelayUnsupportedError } from '../errors.js';
import { discoveryUrlOf } from '../machines/appInputs.js';
import type { RelayCheckInput, RelayChecked } from '../machines/appTypes.js';
import type { SocketConnector } from '../effects/socket.js';

export type { RelayCheckInput, RelayChecked };

/** The check's input, with the connector to ask DISCOVER through (the device's `RelayMux`'s, when it has one). */
export interface RelayCheckVia extends RelayCheckInput {
  /** Sockets to the relay's `/backchannel/v2` (default: `connector`). */
  discoverConnector?: SocketConnector;
}

/** How long an endpoint may take to send its first frame. */
export const RELAY_ANSWER_MS = 10_000;
/** Before asking again after a strike (closed early while the mailbox answered). */
export const RELAY_STRIKE_RETRY_MS = 2_000;
/** Before asking again when the relay did not answer at all. */
export const RELAY_UNREACHABLE_RETRY_MS = 30_000;
const STRIKES = 2;

type Answer = { answered: true } | { answered: false; status?: number; reason: string };

export const relayCheck = fromCallback<{ type: 'noop' }, RelayCheckVia, RelayChecked>(({ input, sendBack }) => {
  const clock = input.clock ?? systemClock;
  let stopped = false;
  let cleanup: (() => void) | undefined;

  /** Open `url`, send `hello` once open, and wait for the first frame (or a close, or the timeout). */
  const ask = (connector: SocketConnector, url: string, hello?: string) =>
    new Promise<Answer>((resolve) => {
      let timer: unknown;
      let done = false;
      const finish = (answer: Answer) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        cleanup = undefined;
        socket.close();
        resolve(answer);
      };
      const socket = connector(url, {
        onOpen: () => hello && socket.send(hello),
        onMessage: () => finish({ answered: true }),
        onClose: (info) => finish({ answered: false, status: info.status, reason: info.reason ?? `closed (${info.code ?? '?'})` }),
      });
      timer = clock.setTimeout(() => finish({ answered: false, reason: `no frame within ${RELAY_ANSWER_MS} ms` }), RELAY_ANSWER_MS);
      cleanup = () => {
        clock.clearTimeout(timer);
        socket.close();
      };
    });
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = clock.setTimeout(() => resolve(), ms);
      cleanup = () => clock.clearTimeout(timer);
    });

  void (async () => {
    let strikes = 0;
    while (!stopped) {
      // Through the mux no ping: its `pong` would pass for the end of the mux's window; the challenge answers.
      const discover = input.discoverConnector
        ? await ask(input.discoverConnector, discoveryUrlOf(input.relay))
        : await ask(input.connector, discoveryUrlOf(input.relay), JSON.stringify({ type: 'ping' }));
      if (stopped) return;
      if (discover.answered) return sendBack({ type: 'relay.checked' });
      if (discover.status !== undefined) {
        return sendBack({
          type: 'relay.checked',
          unsupported: new RelayUnsupportedError(input.relay, `refused the WebSocket upgrade (HTTP ${discover.status})`),
        });
      }
      const mailbox = await ask(input.connector, input.relay);
      if (stopped) return;
      strikes = mailbox.answered ? strikes + 1 : 0;
      if (strikes >= STRIKES) {
        return sendBack({
          type: 'relay.checked',
          unsupported: new RelayUnsupportedError(input.relay, `closed before any frame ${STRIKES} times while /v1 answered`),
        });
      }
      await pause(mailbox.answered ? RELAY_STRIKE_RETRY_MS : RELAY_UNREACHABLE_RETRY_MS);
    }
  })();
  return () => {
    stopped = true;
    cleanup?.();
  };
});
