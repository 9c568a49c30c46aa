/** A pairing that failed, in words a person can act on. */
import type { Send } from './types.js';

const WHY: Record<string, string> = {
  WRONG_CODE: 'The code did not match. It is used up now: ask for a new code and try again.',
  CROWDED: 'Someone else is already using this code. Ask for a new one.',
  TIMEOUT: 'The other side did not answer in time. Check the code is still shown, or make a new one.',
  CONNECTION_LOST: 'The connection to the relay was lost. Check your network and try again.',
  RELAY_BUSY: 'The relay is busy or refused more work right now. Wait a moment and try again.',
  BAD_CODE: 'That is not a valid code.',
  ABORTED: 'The pairing was cancelled.',
  SERVER_ERROR: 'The relay refused the pairing.',
};

export function Failure({ error, from, send }: { error: Error | undefined; from: 'invite' | 'redeem' | undefined; send: Send }) {
  const code = (error as { code?: string } | undefined)?.code ?? '';
  return (
    <section aria-labelledby="failure-title" className="card">
      <h1 id="failure-title">Pairing failed</h1>
      <p role="alert" data-testid="failure-reason" data-code={code}>
        {WHY[code] ?? 'Something went wrong.'}
      </p>
      <details>
        <summary>Details</summary>
        <p className="muted">{error?.message}</p>
      </details>
      <div className="row">
        <button type="button" onClick={() => send({ type: 'TRY_AGAIN' })}>
          {from === 'invite' ? 'Make a new code' : 'Enter a code again'}
        </button>
        <button type="button" className="secondary" onClick={() => send({ type: 'BACK' })}>
          Back to contacts
        </button>
      </div>
    </section>
  );
}
