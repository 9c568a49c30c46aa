/**
 * The mailbox region's work: outbound messages stay pending until the server echoes them back, and
 * (re)opening the mailbox re-sends every one of them, so a reconnect loses nothing.
 * @module
 */
import { transmit } from './transmit.js';
import type { Enqueue, Outbound, WormholeContext } from './types.js';

/** Queue outbound `add`s until the server echoes them; send now if the mailbox is open. */
export function addOutbound(context: WormholeContext, enqueue: Enqueue, outbound: Outbound[]): void {
  enqueue.assign({ pending: [...context.pending, ...outbound] });
  if (!context.mailboxOpened) return;
  for (const o of outbound) transmit(context, enqueue, { type: 'add', phase: o.phase, body: o.body });
}

/** Open the mailbox on this connection and send every message the server has not echoed yet. */
export function openAndDrain(context: WormholeContext, enqueue: Enqueue): void {
  enqueue.assign({ mailboxOpened: true });
  transmit(context, enqueue, { type: 'open', mailbox: context.mailbox! });
  for (const p of context.pending) transmit(context, enqueue, { type: 'add', phase: p.phase, body: p.body });
}
