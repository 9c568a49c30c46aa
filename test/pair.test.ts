/** The SDK's first call, `createPairing`: invite/accept over a real relay and real sockets. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { startRelay, type Relay } from '../server/index.js';
import { nodeSocketConnector } from '../src/adapters/nodeSocket.js';
import { toHex } from '../src/crypto/bytes.js';
import { AbortedError, BadCodeError, InvalidArgumentError, TimeoutError, WrongCodeError } from '../src/errors.js';
import { createPairing } from '../src/pair.js';
import { sendText, receiveText } from '../cli/textTransfer.js';

let relay: Relay;
const frames: string[] = [];
beforeAll(async () => {
  relay = await startRelay({ onFrame: (_dir, frame) => frames.push(frame) });
});
afterAll(() => relay.close());

const connector = nodeSocketConnector();

describe('createPairing', () => {
  it('invite and accept end with the same contact key and verifier; the relay never sees code, key or plaintext', async () => {
    frames.length = 0;
    const alice = createPairing({ relay: relay.url, connector });
    const bob = createPairing({ relay: relay.url, connector });
    const invitation = await alice.invite();
    const [a, b] = await Promise.all([invitation.done, bob.accept(invitation.code.toUpperCase().replace(/-/g, ' '))]);
    expect(a.contactKey.length).toBe(32);
    expect(toHex(a.contactKey)).toBe(toHex(b.contactKey));
    expect(a.verifier).toBe(b.verifier);
    expect(a.verifier).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);

    // A text transfer too, so there is plaintext to look for.
    const secretText = 'the-plaintext-must-not-leak';
    const sending = sendText({ relay: relay.url, connector, text: secretText, code: '88-guitarist-revenge' });
    const received = await receiveText({ relay: relay.url, connector, code: '88-guitarist-revenge' });
    await sending;
    expect(received).toBe(secretText);

    const seen = frames.join('\n');
    expect(frames.length).toBeGreaterThan(20);
    const [, ...words] = invitation.code.split('-');
    for (const word of [...words, 'guitarist', 'revenge']) expect(seen).not.toContain(word);
    for (const secret of [toHex(a.contactKey), secretText, Buffer.from(secretText).toString('hex')]) expect(seen).not.toContain(secret);
    // Hex-encoded bodies must not contain the words either.
    for (const word of [...words, 'guitarist']) expect(seen).not.toContain(Buffer.from(word).toString('hex'));
  });

  it('a wrong code rejects both sides with WrongCodeError', async () => {
    const alice = createPairing({ relay: relay.url, connector });
    const bob = createPairing({ relay: relay.url, connector });
    const invitation = await alice.invite();
    const [nameplate, w1] = invitation.code.split('-');
    const wrong = `${nameplate}-${w1}-${invitation.code.endsWith('-zulu') ? 'aardvark' : 'zulu'}`;
    await expect(bob.accept(wrong)).rejects.toBeInstanceOf(WrongCodeError);
    const err = await invitation.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongCodeError);
    expect((err as WrongCodeError).caller).toBe('pair.invite');
  });

  it('rejects a malformed code before touching the network', async () => {
    const bob = createPairing({ relay: relay.url, connector });
    await expect(bob.accept('swirl-motor')).rejects.toBeInstanceOf(BadCodeError);
    await expect(bob.accept('12-swirl')).rejects.toMatchObject({ data: { reason: 'word-count' } });
  });

  it('cancels through an AbortSignal', async () => {
    const alice = createPairing({ relay: relay.url, connector });
    const controller = new AbortController();
    const invitation = await alice.invite({ signal: controller.signal });
    controller.abort();
    await expect(invitation.done).rejects.toBeInstanceOf(AbortedError);
    const again = await alice.invite();
    again.cancel();
    await expect(again.done).rejects.toBeInstanceOf(AbortedError);
    const bob = createPairing({ relay: relay.url, connector });
    await expect(bob.accept('5-guitarist-revenge', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
  });

  it('invite({ refreshMs }) renews the code each period on its clock while nobody answers; the latest pairs, and nothing renews after', async () => {
    const clock = new SimulatedClock();
    const alice = createPairing({ relay: relay.url, connector, clock });
    await expect(alice.invite({ refreshMs: 999 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const codes: string[] = [];
    const next = () => new Promise<string>((resolve) => (waiting = resolve));
    let waiting: ((code: string) => void) | undefined;
    const invitation = await alice.invite({ refreshMs: 10_000, onCode: (code) => (codes.push(code), waiting?.(code)) });
    expect(codes).toEqual([invitation.code]);
    const renewed = next();
    clock.increment(10_000);
    const second = await renewed;
    expect(second).not.toBe(invitation.code);
    const bob = createPairing({ relay: relay.url, connector });
    const [a, b] = await Promise.all([invitation.done, bob.accept(second)]);
    expect(a.verifier).toBe(b.verifier);
    expect(a.code).toBe(second);
    // Answered: no newer code once its period is up.
    clock.increment(10_000);
    expect(codes).toEqual([invitation.code, second]);
  });

  it('a renewing invite cancels: through its signal or cancel()', async () => {
    const clock = new SimulatedClock();
    const alice = createPairing({ relay: relay.url, connector, clock });
    const controller = new AbortController();
    const first = await alice.invite({ refreshMs: 5_000, signal: controller.signal });
    controller.abort();
    await expect(first.done).rejects.toBeInstanceOf(AbortedError);
    const second = await alice.invite({ refreshMs: 5_000 });
    second.cancel();
    await expect(second.done).rejects.toBeInstanceOf(AbortedError);
  });

  it('times out when nobody accepts (simulated clock)', async () => {
    const clock = new SimulatedClock();
    const alice = createPairing({ relay: relay.url, connector, clock, timeouts: { peerMs: 30_000 } });
    const invitation = await alice.invite();
    clock.increment(30_001);
    const err = await invitation.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).data.phase).toBe('waiting for the other side');
  });
});
