/**
 * The key region's work: SPAKE2 (both messages derived from the seed, so replay rebuilds them), the
 * sealed `version` message (phases are sealed with synthetic nonces, wormhole/phases.ts), sealing what the owner sends, and opening what the peer sends — the first
 * peer message that opens is key confirmation; one that does not is "scary" and kills the code.
 * @module
 */
import { fromUtf8, utf8 } from '../../crypto/bytes.js';
import { derivedSource } from '../../crypto/derive.js';
import { deriveVerifier } from '../../crypto/keys.js';
import { Spake2Symmetric } from '../../crypto/spake2.js';
import { CryptoError, ProtocolError, WrongCodeError, toBackchannelError } from '../../errors.js';
import { decodePakeBody, encodePakeBody, openPhase, sealPhase } from '../../wormhole/phases.js';
import { addOutbound } from './mailbox.js';
import { announce, type Enqueue, type Outbound, type WormholeContext } from './types.js';

/**
 * Our SPAKE2 side, rebuilt from the seed whenever needed rather than kept in context: the context
 * stays plain data (the journal stores it; replay rebuilds the same side).
 */
const pakeOf = (context: WormholeContext) => new Spake2Symmetric(utf8(context.code!), utf8(context.appid), derivedSource(context.seed, 'spake2'));

/** The code is known: queue our `pake` message. */
export function startPake(context: WormholeContext, enqueue: Enqueue): void {
  addOutbound(context, enqueue, [{ phase: 'pake', body: encodePakeBody(pakeOf(context).start()) }]);
}

/** The peer's `pake` arrived: finish SPAKE2 into the key, or fail "scary" on a bad message. */
export function finishPake(context: WormholeContext, body: string, enqueue: Enqueue): void {
  let key: Uint8Array;
  try {
    const spake = pakeOf(context);
    spake.start(); // the same scalar and message as in startPake: both come from the seed
    key = spake.finish(decodePakeBody(body));
  } catch (err) {
    enqueue.raise({ type: 'fail', error: toBackchannelError(err, 'CRYPTO'), mood: 'scary' });
    return;
  }
  enqueue.assign({ key });
  announce(enqueue, { type: 'key', key });
  enqueue.raise({ type: 'key.known' });
}

/** The key is known: seal `version`, then everything the owner sent before, and stop stashing. */
export function sendVersionAndFlush(context: WormholeContext, enqueue: Enqueue): void {
  const key = context.key!;
  const version = utf8(JSON.stringify({ app_versions: context.appVersions }));
  const outbound: Outbound[] = [{ phase: 'version', body: sealPhase(key, context.side, 'version', version) }];
  let next = context.nextTxPhase;
  for (const plaintext of context.outbox) {
    const phase = String(next++);
    outbound.push({ phase, body: sealPhase(key, context.side, phase, plaintext) });
  }
  enqueue.assign({ outbox: [], nextTxPhase: next, early: [] });
  addOutbound(context, enqueue, outbound);
  for (const early of context.early) enqueue.raise({ type: 'rx.phase', ...early });
}

/** The owner sends `plaintext`: sealed as the next numbered phase, or kept until the key is known. */
export function sendPlaintext(context: WormholeContext, plaintext: Uint8Array, enqueue: Enqueue): void {
  if (!context.key) {
    enqueue.assign({ outbox: [...context.outbox, plaintext] });
    return;
  }
  const phase = String(context.nextTxPhase);
  enqueue.assign({ nextTxPhase: context.nextTxPhase + 1 });
  addOutbound(context, enqueue, [{ phase, body: sealPhase(context.key, context.side, phase, plaintext) }]);
}

/** A peer phase after the key: open it (confirming the key the first time) and deliver in order. */
export function receivePhase(context: WormholeContext, phase: string, body: string, enqueue: Enqueue): void {
  let plaintext: Uint8Array;
  try {
    plaintext = openPhase(context.key!, context.theirSide!, phase, body);
  } catch {
    const error = context.verified
      ? new CryptoError('A message from the other side failed to decrypt: it was tampered with.', { phase })
      : new WrongCodeError();
    enqueue.raise({ type: 'fail', error, mood: 'scary' });
    return;
  }
  let theirVersions = context.theirVersions;
  if (phase === 'version') {
    try {
      const parsed = JSON.parse(fromUtf8(plaintext)) as { app_versions?: Record<string, unknown> };
      theirVersions = parsed.app_versions ?? {};
    } catch {
      enqueue.raise({ type: 'fail', error: new ProtocolError('The version message is not JSON.'), mood: 'errory' });
      return;
    }
    enqueue.assign({ theirVersions });
  }
  if (!context.verified) {
    enqueue.assign({ verified: true });
    announce(enqueue, { type: 'verified', key: context.key!, verifier: deriveVerifier(context.key!), versions: theirVersions ?? {} });
    enqueue.raise({ type: 'key.verified' });
  }
  if (!/^\d+$/.test(phase)) return; // "version", and phases from newer peers
  // Deliver numbered phases strictly in order, with no gaps, as wormhole's Boss does.
  const buffer = { ...context.rxBuffer, [Number(phase)]: plaintext };
  let next = context.nextRxPhase;
  while (buffer[next] !== undefined) {
    announce(enqueue, { type: 'message', phase: next, plaintext: buffer[next]! });
    delete buffer[next];
    next++;
  }
  enqueue.assign({ rxBuffer: buffer, nextRxPhase: next });
}
