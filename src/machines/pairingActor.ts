/**
 * VERIFY as a callback actor for the app: it runs one invite or one accept (pair.ts, the wormhole
 * machine underneath), reports its progress, `pairing.code` (invite only) and then `pairing.verified` or
 * `pairing.failed` to its parent, and aborts the pairing when the state that invoked it is left
 * (cancel, close).
 * @module
 */
import { fromCallback } from 'xstate';
import { AbortedError, BackchannelError } from '../errors.js';
import { createPairing, type PairingOptions, type PairingPhase } from '../pair.js';

export type PairingInput = PairingOptions & ({ mode: 'invite' } | { mode: 'accept'; code: string });

export type PairingFeedback =
  | { type: 'pairing.progress'; phase: PairingPhase }
  | { type: 'pairing.code'; code: string }
  | { type: 'pairing.verified'; contactKey: Uint8Array; verifier: string }
  | { type: 'pairing.failed'; error: BackchannelError };

export const pairingActor = fromCallback<{ type: 'noop' }, PairingInput, PairingFeedback>(({ input, sendBack }) => {
  const controller = new AbortController();
  const pairing = createPairing(input);
  const onProgress = (phase: PairingPhase) => sendBack({ type: 'pairing.progress', phase });
  (async () => {
    const result =
      input.mode === 'invite'
        ? await (async () => {
            const invitation = await pairing.invite({ signal: controller.signal, onProgress });
            sendBack({ type: 'pairing.code', code: invitation.code });
            return invitation.done;
          })()
        : await pairing.accept(input.code, { signal: controller.signal, onProgress });
    sendBack({ type: 'pairing.verified', contactKey: result.contactKey, verifier: result.verifier });
  })().catch((err: unknown) => {
    const error = err instanceof BackchannelError ? err : new BackchannelError('INTERNAL', String(err));
    sendBack({ type: 'pairing.failed', error });
  });
  return () => controller.abort(new AbortedError('The pairing was cancelled.'));
});
