/**
 * From the server's frames to the machine's events: each frame becomes one typed internal event
 * (`rx.*`) for the region it concerns, or a failure.
 * @module
 */
import { CodeExpiredError, CrowdedError, RelayBusyError, ServerError, toBackchannelError, type BackchannelError } from '../../errors.js';
import { parseServerMessage, readBusyRefusal, type ServerMessage } from '../../wormhole/messages.js';
import { announce, type Enqueue, type WormholeContext } from './types.js';

/** The `welcome` error text and other server errors become typed errors; a throttle is a RelayBusyError. */
export function serverError(error: string, orig: unknown, url?: string): BackchannelError {
  if (error === 'crowded') return new CrowdedError();
  const busy = readBusyRefusal(error);
  if (busy) {
    return new RelayBusyError(`The relay is busy and turned this request away: ${error}.`, {
      ...busy,
      ...(url === undefined ? {} : { url }),
      detail: error,
    });
  }
  return new ServerError(`The mailbox server refused: ${error}`, { error, orig });
}

/** Route one text frame from the server. */
export function route(context: WormholeContext, text: string, enqueue: Enqueue): void {
  let m: ServerMessage;
  try {
    m = parseServerMessage(text);
  } catch (err) {
    enqueue.raise({ type: 'fail', error: toBackchannelError(err, 'PROTOCOL'), mood: 'errory' });
    return;
  }
  switch (m.type) {
    case 'welcome':
      enqueue.assign({ attempts: 0, everConnected: true, refusal: undefined });
      if (m.welcome.error !== undefined) enqueue.raise({ type: 'fail', error: serverError(m.welcome.error, undefined, context.url), mood: 'errory' });
      return;
    case 'allocated':
      enqueue.raise({ type: 'rx.allocated', nameplate: m.nameplate });
      return;
    case 'claimed':
      enqueue.raise({ type: 'rx.claimed', mailbox: m.mailbox });
      return;
    case 'released':
      enqueue.raise({ type: 'rx.released' });
      return;
    case 'closed':
      enqueue.raise({ type: 'rx.closed' });
      return;
    case 'error':
      enqueue.raise({ type: 'fail', error: serverError(m.error, m.orig, context.url), mood: 'errory' });
      return;
    case 'message': {
      const { side, phase, body } = m;
      if (side === context.side) {
        // Our own message came back: the server has it, stop re-sending it.
        const first = context.pending.some((p) => p.phase === phase);
        enqueue.assign({ pending: context.pending.filter((p) => p.phase !== phase) });
        if (phase !== 'pake' || !first) return;
        announce(enqueue, { type: 'stored' });
        // The relay sends a mailbox's backlog before echoing our add: nothing of the peer's came
        // first, so nobody waits on this code (its inviter refreshed it or left).
        if (context.expectPeer && context.theirSide === undefined) enqueue.raise({ type: 'fail', error: new CodeExpiredError(), mood: 'lonely' });
        return;
      }
      if (context.theirSide !== undefined && side !== context.theirSide) return;
      if (context.processed.includes(phase)) return;
      enqueue.assign({ theirSide: side, processed: [...context.processed, phase] });
      enqueue.raise(phase === 'pake' ? { type: 'rx.pake', body } : { type: 'rx.phase', phase, body });
      return;
    }
    case 'ack':
    case 'pong':
    case 'nameplates':
    case 'unknown': // a type from a newer server
      return;
  }
}
