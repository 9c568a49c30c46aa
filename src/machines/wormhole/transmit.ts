/**
 * Sending commands to the mailbox server, and the one rule every region follows for them: a state
 * that needs the server to know something sends its command on entry and again after every reconnect,
 * because the server may never have seen the first one.
 * @module
 */
import { toHex } from '../../crypto/bytes.js';
import { deriveBytes } from '../../crypto/derive.js';
import type { ClientMessage } from '../../wormhole/messages.js';
import type { Enqueue, WormholeContext } from './types.js';

/** Send one command if the socket is open; otherwise its state re-sends it on `connected`. */
export function transmit(context: WormholeContext, enqueue: Pick<Enqueue, 'sendTo'>, command: ClientMessage): void {
  if (!context.socketOpen) return;
  // The id only pairs a command with the server's ack: derived from the command, like a random one.
  const id = toHex(deriveBytes(context.seed, `id:${JSON.stringify(command)}`, 2));
  enqueue.sendTo('socket', { type: 'socket.send', text: JSON.stringify({ ...command, id }) });
}

/**
 * A state that sends on entry and re-sends on every reconnect (`connected`): `send` runs at both
 * times, `on` holds the state's other transitions, and `first` runs before `send` on a reconnect only
 * (a new connection must re-open the mailbox before it can close it). Used by allocating, claiming,
 * releasing, the open mailbox (open + every unacknowledged add) and closing.
 */
export function resending<const A extends string, const On extends object>(send: A, on: On, first?: A) {
  return { entry: send, on: { connected: { actions: first === undefined ? [send] : [first, send] }, ...on } };
}
