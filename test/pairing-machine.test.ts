/**
 * The pairing machine (VERIFY) on XState's SimulatedClock, through `.provide()`:
 *
 * - with its wormhole child replaced by a scripted stand-in, the steps it announces, the `paired`
 *   confirmation both ways, and every way it fails (a peer that confirms something else, cancel, a
 *   wormhole that ends early or with an error);
 * - with the real wormhole child on a stand-in socket, the time budgets as a user meets them: a relay
 *   that never answers, and an invitation nobody accepts.
 *
 * Two real devices over a real relay are pair.test.ts; under dropped connections, pairing-faults.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, fromCallback, sendParent, setup, SimulatedClock, type AnyActorRef } from 'xstate';
import { fromUtf8 } from '../src/crypto/bytes.js';
import { deriveContactKey, formatVerifier } from '../src/crypto/keys.js';
import { AbortedError, ClosedError, ConnectionLostError, LinkRefusedError, ProtocolError, TimeoutError } from '../src/errors.js';
import { pairingMachine, type PairingAnnouncement, type PairingEvent } from '../src/machines/pairingMachine.js';
import type { SocketEvent } from '../src/machines/socketActor.js';
import { DEFAULT_TIMEOUTS, type wormholeMachine, type WormholeInput, type WormholeOutput } from '../src/machines/wormholeMachine.js';

const input: WormholeInput = {
  appid: 'example.com/test',
  url: 'ws://relay.test/v1',
  connector: () => {
    throw new Error('the socket is provided');
  },
  randomBytes: (n: number) => new Uint8Array(n).fill(3),
};

type Command = { type: 'SEND'; plaintext: Uint8Array } | { type: 'CLOSE'; mood?: string } | { type: 'ABORT'; reason?: unknown };

/** A wormhole stand-in: says to its parent what the test tells it to, records what it is told, ends on cue. */
function scriptedWormhole(received: Command[]) {
  return setup({
    types: {
      context: {} as { output: WormholeOutput },
      events: {} as Command | { type: 'test.say'; event: PairingEvent } | { type: 'test.end'; output: WormholeOutput },
      output: {} as WormholeOutput,
    },
  }).createMachine({
    context: { output: { mood: 'errory' } },
    initial: 'running',
    states: {
      running: {
        on: {
          'test.say': { actions: sendParent(({ event }) => event.event) },
          'test.end': { target: 'ended', actions: assign({ output: ({ event }) => event.output }) },
          SEND: { actions: ({ event }) => void received.push(event) },
          CLOSE: { actions: ({ event }) => void received.push(event) },
          ABORT: { actions: ({ event }) => void received.push(event) },
        },
      },
      ended: { type: 'final' },
    },
    output: ({ context }) => context.output,
  });
}

function scripted(extra: Partial<WormholeInput> = {}) {
  const received: Command[] = [];
  const actor = createActor(pairingMachine.provide({ actors: { wormhole: scriptedWormhole(received) } as never }), {
    clock: new SimulatedClock(),
    input: { ...input, ...extra },
  });
  const told: PairingAnnouncement[] = [];
  actor.on('*', (e) => told.push(e as PairingAnnouncement));
  actor.start();
  const child = () => actor.getSnapshot().children.wormhole as AnyActorRef;
  return {
    actor,
    received,
    told,
    say: (event: PairingEvent) => child().send({ type: 'test.say', event }),
    end: (output: WormholeOutput) => child().send({ type: 'test.end', output }),
    state: () => actor.getSnapshot().value,
  };
}

const key = new Uint8Array(32).fill(9);
const verifier = new Uint8Array(32).fill(4);
const paired = new TextEncoder().encode(JSON.stringify({ paired: 1 }));

describe('pairingMachine with a scripted wormhole', () => {
  it('inviting: connecting → the code → waiting → verifying → confirming, `paired` both ways, a happy close → paired', () => {
    const h = scripted();
    h.say({ type: 'wormhole.code', code: '7-crossover-clockwork', nameplate: '7' });
    // The code is shown only once the relay holds our PAKE message (a redeemer then finds us there).
    expect(h.state()).toBe('connecting');
    expect(h.told).toEqual([{ type: 'pairing.progress', step: 'connecting' }]);
    h.say({ type: 'wormhole.stored' });
    h.say({ type: 'wormhole.key', key });
    h.say({ type: 'wormhole.verified', key, verifier, versions: {} });
    expect(h.state()).toBe('confirming');
    expect(h.received).toHaveLength(1);
    expect(fromUtf8((h.received[0] as { plaintext: Uint8Array }).plaintext)).toBe('{"paired":1}');
    h.say({ type: 'wormhole.message', phase: 0, plaintext: paired });
    expect(h.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'happy' });
    expect(h.state()).toBe('closing');
    h.end({ mood: 'happy' });
    expect(h.told).toEqual([
      { type: 'pairing.progress', step: 'connecting' },
      { type: 'pairing.code', code: '7-crossover-clockwork' },
      { type: 'pairing.progress', step: 'waiting' },
      { type: 'pairing.progress', step: 'verifying' },
      { type: 'pairing.progress', step: 'confirming' },
    ]);
    expect(h.state()).toBe('paired');
    expect(h.actor.getSnapshot().output).toEqual({ contactKey: deriveContactKey(key), verifier: formatVerifier(verifier), code: '7-crossover-clockwork' });
  });

  it('accepting: the code is known, so it waits at once and announces no code', () => {
    const h = scripted({ code: '7-crossover-clockwork' });
    expect(h.state()).toBe('waiting');
    expect(h.told).toEqual([
      { type: 'pairing.progress', step: 'connecting' },
      { type: 'pairing.progress', step: 'waiting' },
    ]);
    h.actor.stop();
  });

  it('a peer that confirms with anything but `paired` is a ProtocolError, closed errory, even if the wormhole ends happy', () => {
    const h = scripted({ code: '7-crossover-clockwork' });
    h.say({ type: 'wormhole.key', key });
    h.say({ type: 'wormhole.verified', key, verifier, versions: {} });
    h.say({ type: 'wormhole.message', phase: 0, plaintext: new TextEncoder().encode('{"paired":2}') });
    expect(h.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'errory' });
    h.end({ mood: 'happy' });
    expect(h.state()).toBe('failed');
    const { error, contactKey } = h.actor.getSnapshot().output!;
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error!.data).toMatchObject({ got: '{"paired":2}' });
    expect(contactKey).toBeUndefined();
  });

  it('CANCEL aborts the wormhole with the reason; the end is AbortedError whatever the wormhole says', () => {
    const h = scripted();
    h.actor.send({ type: 'CANCEL', reason: 'user closed the dialog' });
    expect(h.received).toEqual([{ type: 'ABORT', reason: 'user closed the dialog' }]);
    h.end({ mood: 'lonely', error: new ClosedError('closed') });
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(AbortedError);
  });

  it("the wormhole's own error is the pairing's; a wormhole that ends quietly before the key is a ClosedError", () => {
    const h = scripted({ code: '7-crossover-clockwork' });
    const lost = new ConnectionLostError('gone');
    h.end({ mood: 'errory', error: lost });
    expect(h.actor.getSnapshot().output).toEqual({ error: lost, code: '7-crossover-clockwork' });

    const q = scripted({ code: '7-crossover-clockwork' });
    q.say({ type: 'wormhole.key', key });
    q.end({ mood: 'happy' });
    expect(q.state()).toBe('failed');
    expect(q.actor.getSnapshot().output!.error).toBeInstanceOf(ClosedError);
  });
});

/** The pairing machine with its real wormhole child, whose socket is a stand-in the test drives. */
function withRealWormhole(extra: Partial<WormholeInput> = {}) {
  const clock = new SimulatedClock();
  const sockets: { sendBack: (e: SocketEvent) => void; sent: Record<string, unknown>[] }[] = [];
  const child = (pairingMachine.implementations.actors.wormhole as typeof wormholeMachine).provide({
    actors: {
      socket: fromCallback(({ sendBack, receive }) => {
        const s = { sendBack: sendBack as (e: SocketEvent) => void, sent: [] as Record<string, unknown>[] };
        sockets.push(s);
        receive((c) => void s.sent.push(JSON.parse((c as unknown as { text: string }).text) as Record<string, unknown>));
        return () => {};
      }),
    } as never,
  });
  const actor = createActor(pairingMachine.provide({ actors: { wormhole: child } }), { clock, input: { ...input, ...extra } });
  const told: PairingAnnouncement[] = [];
  actor.on('*', (e) => told.push(e as PairingAnnouncement));
  actor.start();
  const frame = (f: Record<string, unknown>) => sockets.at(-1)!.sendBack({ type: 'socket.frame', text: JSON.stringify(f) });
  return { clock, actor, sockets, told, frame, done: () => actor.getSnapshot().status === 'done' };
}

describe('pairingMachine with the real wormhole on a stand-in socket (simulated clock)', () => {
  it('a relay that never answers: still connecting, then ConnectionLostError after three connect timeouts and two backoffs', () => {
    const h = withRealWormhole();
    const T = DEFAULT_TIMEOUTS;
    const giveUpAt = 3 * T.connectMs + T.reconnectBaseMs + 2 * T.reconnectBaseMs;
    for (let t = 0; t < giveUpAt - 1; t += 250) h.clock.increment(Math.min(250, giveUpAt - 1 - t));
    expect(h.done()).toBe(false);
    expect(h.sockets).toHaveLength(3);
    h.clock.increment(1);
    expect(h.done()).toBe(true);
    expect(h.told).toEqual([{ type: 'pairing.progress', step: 'connecting' }]);
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(ConnectionLostError);
  });

  it('an invitation nobody accepts: the code is shown, and after peerMs (+ closeMs unanswered) it fails with TimeoutError', () => {
    const h = withRealWormhole({ timeouts: { peerMs: 60_000 } });
    h.sockets[0]!.sendBack({ type: 'socket.open' });
    h.frame({ type: 'welcome', welcome: {} });
    h.frame({ type: 'allocated', nameplate: '12' });
    h.frame({ type: 'claimed', mailbox: 'mb' });
    expect(h.told.map((e) => (e.type === 'pairing.code' ? 'code' : e.step))).toEqual(['connecting']);
    // The relay echoes our PAKE message: it holds it now, so the code is shown.
    const pake = h.sockets[0]!.sent.find((f) => f.type === 'add' && f.phase === 'pake')!;
    const side = h.sockets[0]!.sent.find((f) => f.type === 'bind')!.side;
    h.frame({ type: 'message', side, phase: 'pake', body: pake.body, server_rx: 1, id: pake.id });
    expect(h.told.map((e) => (e.type === 'pairing.code' ? 'code' : e.step))).toEqual(['connecting', 'code', 'waiting']);
    expect((h.told[1] as { code: string }).code).toMatch(/^12-/);
    h.clock.increment(59_999);
    expect(h.actor.getSnapshot().value).toBe('waiting');
    h.clock.increment(1);
    expect(h.sockets[0]!.sent.at(-1)).toMatchObject({ type: 'close', mood: 'lonely' });
    expect(h.done()).toBe(false);
    h.clock.increment(DEFAULT_TIMEOUTS.closeMs);
    expect(h.done()).toBe(true);
    const { error } = h.actor.getSnapshot().output!;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error!.data).toMatchObject({ phase: 'waiting for the other side', ms: 60_000 });
  });
});

describe('pairingMachine linking a device (scripted wormhole)', () => {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const sent = (c: Command) => JSON.parse(fromUtf8((c as { plaintext: Uint8Array }).plaintext)) as Record<string, unknown>;
  const peer = { device_id: 'd'.repeat(32), public_key: 'e'.repeat(64) };
  const bundle = { record: { device_id: peer.device_id }, devices: [], contacts: [], settings: {}, set: { key: 'f'.repeat(64) } } as never;

  function verified(h: ReturnType<typeof scripted>): void {
    h.say({ type: 'wormhole.key', key });
    h.say({ type: 'wormhole.verified', key, verifier, versions: {} });
  }

  it('offering: once the new device names itself, its bundle goes sealed after `paired`, then a happy close; the output has it', () => {
    const asked: unknown[] = [];
    const h = scripted({ code: '7-a-b', link: { role: 'offer', bundle: (p: unknown) => (asked.push(p), bundle) } } as never);
    verified(h);
    h.say({ type: 'wormhole.message', phase: 0, plaintext: enc({ paired: 1, ...peer }) });
    expect(asked).toEqual([peer]);
    expect(h.received.map((c) => c.type)).toEqual(['SEND', 'SEND', 'CLOSE']);
    expect(sent(h.received[1]!)).toEqual({ link: bundle });
    expect(h.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'happy' });
    h.end({ mood: 'happy' });
    expect(h.state()).toBe('paired');
    expect(h.actor.getSnapshot().output).toMatchObject({ link: bundle, publicKey: peer.public_key });
  });

  it('offering: a device that does not name itself gets nothing: LinkRefusedError, closed errory', () => {
    const h = scripted({ code: '7-a-b', link: { role: 'offer', bundle: () => bundle } } as never);
    verified(h);
    h.say({ type: 'wormhole.message', phase: 0, plaintext: enc({ paired: 1, public_key: peer.public_key }) });
    expect(h.received.map((c) => c.type)).toEqual(['SEND', 'CLOSE']);
    expect(h.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'errory' });
    h.end({ mood: 'happy' });
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(LinkRefusedError);
  });

  it('receiving: names itself in `paired`, waits for the bundle; anything else is LinkRefusedError', () => {
    const ok = scripted({ code: '7-a-b', publicKey: peer.public_key, link: { role: 'receive', deviceId: peer.device_id } } as never);
    verified(ok);
    expect(sent(ok.received[0]!)).toEqual({ paired: 1, ...peer });
    ok.say({ type: 'wormhole.message', phase: 0, plaintext: paired });
    expect(ok.state()).toBe('receivingLink');
    ok.say({ type: 'wormhole.message', phase: 1, plaintext: enc({ link: bundle }) });
    expect(ok.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'happy' });
    ok.end({ mood: 'happy' });
    expect(ok.actor.getSnapshot().output!.link).toEqual(bundle);

    const bad = scripted({ code: '7-a-b', link: { role: 'receive', deviceId: peer.device_id } } as never);
    verified(bad);
    bad.say({ type: 'wormhole.message', phase: 0, plaintext: paired });
    bad.say({ type: 'wormhole.message', phase: 1, plaintext: enc({ something: 'else' }) });
    expect(bad.received.at(-1)).toEqual({ type: 'CLOSE', mood: 'errory' });
    bad.end({ mood: 'happy' });
    expect(bad.state()).toBe('failed');
    expect(bad.actor.getSnapshot().output!.error).toBeInstanceOf(LinkRefusedError);
  });
});
