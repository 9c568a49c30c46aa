/**
 * The wormhole machine on XState's SimulatedClock, its socket `.provide()`d as a stand-in the test
 * drives (no relay, no network): connect timeout, reconnect backoff, giving up (before and after the
 * relay ever answered, and on busy refusals), what each region re-sends after a reconnect, the
 * exchange's time budget and the close that waits for the server only so long; and the key region
 * against a peer the test plays (its own SPAKE2): a wrong code, replayed and reordered messages, a peer
 * that goes quiet after proving the key. The same machine over a
 * real relay is wormhole-relay.test.ts and pair.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { utf8 } from '../src/crypto/bytes.js';
import { Spake2Symmetric } from '../src/crypto/spake2.js';
import { ConnectionLostError, RelayBusyError, TimeoutError, WrongCodeError } from '../src/errors.js';
import { cryptoRandomBytes } from '../src/effects/random.js';
import { decodePakeBody, encodePakeBody, sealPhase } from '../src/wormhole/phases.js';
import { DEFAULT_TIMEOUTS, wormholeMachine, type WormholeEmitted, type WormholeInput } from '../src/machines/wormholeMachine.js';
import type { SocketEvent } from '../src/machines/socketActor.js';

const T = DEFAULT_TIMEOUTS;

interface FakeSocket {
  sendBack: (e: SocketEvent) => void;
  /** The `type` of every frame the machine sent on this socket, in order. */
  sent: Record<string, unknown>[];
  openedAt: number;
  closed: boolean;
}

function harness(input: Partial<WormholeInput> = {}) {
  const clock = new SimulatedClock();
  const sockets: FakeSocket[] = [];
  const machine = wormholeMachine.provide({
    actors: {
      socket: fromCallback(({ sendBack, receive }) => {
        const socket: FakeSocket = { sendBack: sendBack as FakeSocket['sendBack'], sent: [], openedAt: clock.now(), closed: false };
        sockets.push(socket);
        receive((command) => socket.sent.push(JSON.parse((command as unknown as { text: string }).text) as Record<string, unknown>));
        return () => (socket.closed = true);
      }),
    } as never,
  });
  let n = 0;
  const actor = createActor(machine, {
    clock,
    input: {
      appid: 'example.com/test',
      url: 'ws://relay.test/v1',
      connector: () => {
        throw new Error('the socket actor is provided');
      },
      // Deterministic "randomness": the seed and side only need to be bytes.
      randomBytes: (k: number) => new Uint8Array(k).map(() => ++n & 0xff),
      ...input,
    },
  });
  const emitted: WormholeEmitted[] = [];
  for (const type of ['code', 'key', 'verified', 'message'] as const) actor.on(type, (e) => emitted.push(e));
  actor.start();
  const socket = () => sockets.at(-1)!;
  const frame = (f: Record<string, unknown>) => socket().sendBack({ type: 'socket.frame', text: JSON.stringify(f) });
  return {
    clock,
    actor,
    sockets,
    socket,
    emitted,
    frame,
    /** The socket opens and the server welcomes us. */
    welcome: () => {
      socket().sendBack({ type: 'socket.open' });
      frame({ type: 'welcome', welcome: {} });
    },
    drop: (extra: Partial<Extract<SocketEvent, { type: 'socket.closed' }>> = {}) => socket().sendBack({ type: 'socket.closed', code: 1006, ...extra }),
    /** Advance a millisecond at a time until a new socket is opened; returns how long that took. */
    untilNextSocket: () => {
      const [before, from] = [sockets.length, clock.now()];
      while (sockets.length === before) clock.increment(1);
      return clock.now() - from;
    },
    types: (s: FakeSocket) => s.sent.map((f) => f.type),
    done: () => actor.getSnapshot().status === 'done',
  };
}

describe('wormholeMachine: the connection (simulated clock)', () => {
  it('a socket that never opens is abandoned after connectMs, and the next attempt waits reconnectBaseMs', () => {
    const h = harness();
    h.clock.increment(T.connectMs - 1);
    expect(h.sockets).toHaveLength(1);
    expect(h.socket().closed).toBe(false);
    h.clock.increment(1);
    expect(h.socket().closed).toBe(true);
    expect(h.untilNextSocket()).toBe(T.reconnectBaseMs);
    h.actor.stop();
  });

  it('gives up with ConnectionLostError after maxInitialAttempts when the relay never answered', () => {
    const h = harness();
    const waits: number[] = [];
    for (let i = 1; i < T.maxInitialAttempts; i++) {
      h.drop();
      waits.push(h.untilNextSocket());
    }
    expect(waits).toEqual([T.reconnectBaseMs, 2 * T.reconnectBaseMs]);
    h.drop();
    expect(h.done()).toBe(true);
    const output = h.actor.getSnapshot().output!;
    expect(output.mood).toBe('errory');
    expect(output.error).toBeInstanceOf(ConnectionLostError);
    expect(output.error!.message).toMatch(/Could not reach the relay at ws:\/\/relay.test\/v1/);
    expect(h.sockets).toHaveLength(T.maxInitialAttempts);
  });

  it('once welcomed, reconnects with backoff doubling to reconnectMaxMs, then gives up after maxReconnects', () => {
    const h = harness();
    h.welcome();
    const waits: number[] = [];
    for (let i = 0; i < T.maxReconnects; i++) {
      h.drop();
      waits.push(h.untilNextSocket());
    }
    expect(waits).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(h.done()).toBe(false);
    h.drop();
    expect(h.done()).toBe(true);
    const { error } = h.actor.getSnapshot().output!;
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(error!.message).toContain(`(${T.maxReconnects} tries)`);
  });

  it('a welcome resets the backoff: the next drop waits reconnectBaseMs again', () => {
    const h = harness();
    h.welcome();
    for (let i = 0; i < 4; i++) {
      h.drop();
      h.untilNextSocket();
    }
    h.welcome();
    h.drop();
    expect(h.untilNextSocket()).toBe(T.reconnectBaseMs);
    h.actor.stop();
  });

  it("a busy refusal's Retry-After stretches the wait; refused every time, it gives up with RelayBusyError", () => {
    const h = harness();
    h.drop({ status: 503, retryAfterMs: 7_000 });
    expect(h.untilNextSocket()).toBe(7_000);
    h.drop({ status: 503 }); // no hint: our own backoff
    expect(h.untilNextSocket()).toBe(2 * T.reconnectBaseMs);
    h.drop({ status: 429, retryAfterMs: 100 }); // shorter than ours: ours wins, but we give up here
    expect(h.done()).toBe(true);
    const { error } = h.actor.getSnapshot().output!;
    expect(error).toBeInstanceOf(RelayBusyError);
    expect(error!.data).toMatchObject({ reason: 'rate-limited', retryAfterMs: 100 });
  });
});

describe('wormholeMachine: what survives a reconnect (simulated clock)', () => {
  it('the inviter re-sends bind and allocate until allocated, then claim (never allocate again) until claimed', () => {
    const h = harness();
    h.welcome();
    expect(h.types(h.socket())).toEqual(['bind', 'allocate']);
    h.drop();
    h.untilNextSocket();
    h.welcome();
    expect(h.types(h.socket())).toEqual(['bind', 'allocate']);
    h.frame({ type: 'allocated', nameplate: '7' });
    expect(h.emitted.map((e) => e.type)).toEqual(['code']);
    expect((h.emitted[0] as { code: string }).code).toMatch(/^7-[a-z]+-[a-z]+$/);
    expect(h.types(h.socket())).toEqual(['bind', 'allocate', 'claim']);
    h.drop();
    h.untilNextSocket();
    h.welcome();
    expect(h.socket().sent).toMatchObject([{ type: 'bind' }, { type: 'claim', nameplate: '7' }]);
    h.actor.stop();
  });

  it('an open mailbox is re-opened after a reconnect and the unechoed pake re-sent; an echoed one is not', () => {
    const h = harness({ code: '4-purple-sausages' });
    h.welcome();
    h.frame({ type: 'claimed', mailbox: 'mb1' });
    expect(h.socket().sent).toMatchObject([
      { type: 'bind' },
      { type: 'claim', nameplate: '4' },
      { type: 'open', mailbox: 'mb1' },
      { type: 'add', phase: 'pake' },
    ]);
    h.drop();
    h.untilNextSocket();
    h.welcome();
    expect(h.socket().sent).toMatchObject([{ type: 'bind' }, { type: 'open', mailbox: 'mb1' }, { type: 'add', phase: 'pake' }]);
    const pake = h.socket().sent.at(-1)!;
    h.frame({ type: 'message', side: (h.actor.getSnapshot().context as { side: string }).side, phase: 'pake', body: pake.body, server_rx: 0 });
    h.drop();
    h.untilNextSocket();
    h.welcome();
    expect(h.types(h.socket())).toEqual(['bind', 'open']);
    h.actor.stop();
  });
});

describe('wormholeMachine: time budgets (simulated clock)', () => {
  it('nobody comes within peerMs: fails with TimeoutError, closes lonely, and ends after closeMs without the server', () => {
    const h = harness({ code: '4-purple-sausages' });
    h.welcome();
    h.frame({ type: 'claimed', mailbox: 'mb1' });
    const sentBefore = h.socket().sent.length;
    h.clock.increment(T.peerMs - 1);
    expect(h.socket().sent).toHaveLength(sentBefore);
    h.clock.increment(1);
    expect(h.socket().sent.slice(sentBefore)).toMatchObject([
      { type: 'release', nameplate: '4' },
      { type: 'close', mailbox: 'mb1', mood: 'lonely' },
    ]);
    h.clock.increment(T.closeMs - 1);
    expect(h.done()).toBe(false);
    h.clock.increment(1);
    expect(h.done()).toBe(true);
    const output = h.actor.getSnapshot().output!;
    expect(output.mood).toBe('lonely');
    expect(output.error).toBeInstanceOf(TimeoutError);
    expect(output.error!.data).toMatchObject({ phase: 'waiting for the other side', ms: T.peerMs });
  });

  it('a close the server confirms ends at once, without waiting closeMs', () => {
    const h = harness({ code: '4-purple-sausages' });
    h.welcome();
    h.frame({ type: 'claimed', mailbox: 'mb1' });
    h.actor.send({ type: 'CLOSE' });
    expect(h.done()).toBe(false);
    h.frame({ type: 'released' });
    expect(h.done()).toBe(false); // the mailbox is not closed yet
    h.frame({ type: 'closed' });
    expect(h.done()).toBe(true);
    expect(h.actor.getSnapshot().output).toEqual({ mood: 'lonely', error: undefined });
  });

  it('a close begun while offline is sent after the reconnect, the mailbox re-opened first', () => {
    const h = harness({ code: '4-purple-sausages' });
    h.welcome();
    h.frame({ type: 'claimed', mailbox: 'mb1' });
    h.drop();
    h.actor.send({ type: 'CLOSE', mood: 'happy' });
    h.untilNextSocket();
    h.welcome();
    expect(h.socket().sent).toMatchObject([
      { type: 'bind' },
      { type: 'release', nameplate: '4' },
      { type: 'open', mailbox: 'mb1' },
      { type: 'add', phase: 'pake' },
      { type: 'close', mailbox: 'mb1', mood: 'happy' },
    ]);
    h.actor.stop();
  });
});

/**
 * The other side, played by the test: its own SPAKE2 on `code`, its frames as the server would relay
 * them to us (server_rx, its side id), sealed under the key it computed.
 */
function peerWith(h: ReturnType<typeof harness>, code: string) {
  const side = 'abcdef0123';
  const spake = new Spake2Symmetric(utf8(code), utf8('example.com/test'), cryptoRandomBytes);
  const pake = encodePakeBody(spake.start());
  let key: Uint8Array | undefined;
  let rx = 0;
  const say = (phase: string, body: string) => h.frame({ type: 'message', side, phase, body, server_rx: rx++ });
  return {
    /** Our pake, then theirs: both sides can compute a key (equal only if the codes match). */
    pake: () => {
      const ours = h.socket().sent.find((f) => f.phase === 'pake')!;
      key = spake.finish(decodePakeBody(ours.body as string));
      say('pake', pake);
    },
    send: (phase: string, text: string) => say(phase, sealPhase(key!, side, phase, utf8(text))),
    resend: say,
    sealed: (phase: string, text: string) => sealPhase(key!, side, phase, utf8(text)),
  };
}

/** Joined with a code, welcomed, the mailbox open. */
function joined(timeouts: Partial<WormholeInput['timeouts']> = {}) {
  const h = harness({ code: '4-purple-sausages', timeouts });
  h.welcome();
  h.frame({ type: 'claimed', mailbox: 'mb1' });
  return h;
}

describe('wormholeMachine: the key (simulated clock)', () => {
  it('a peer on another code: its version does not open, WrongCodeError, the mailbox closed scary', () => {
    const h = joined();
    const peer = peerWith(h, '4-purple-sandwich');
    peer.pake();
    expect(h.emitted.map((e) => e.type)).toEqual(['key']);
    peer.send('version', '{"app_versions":{}}');
    expect(h.socket().sent.at(-1)).toMatchObject({ type: 'close', mood: 'scary' });
    h.frame({ type: 'released' });
    h.frame({ type: 'closed' });
    expect(h.done()).toBe(true);
    expect(h.actor.getSnapshot().output).toMatchObject({ mood: 'scary' });
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(WrongCodeError);
    expect(h.emitted.map((e) => e.type)).toEqual(['key']); // never verified, no message
  });

  it('numbered messages are delivered once each, in order, whatever order and how often the server replays them', () => {
    const h = joined();
    const peer = peerWith(h, '4-purple-sausages');
    peer.pake();
    const [zero, one, two] = [peer.sealed('0', 'zero'), peer.sealed('1', 'one'), peer.sealed('2', 'two')];
    peer.send('version', '{"app_versions":{"v":1}}');
    peer.resend('2', two);
    peer.resend('1', one);
    expect(h.emitted.filter((e) => e.type === 'message')).toEqual([]); // 0 is missing: hold 1 and 2
    peer.resend('0', zero);
    peer.resend('1', one); // a re-open replays everything
    peer.resend('0', zero);
    const messages = h.emitted.filter((e) => e.type === 'message') as Extract<WormholeEmitted, { type: 'message' }>[];
    expect(messages.map((m) => [m.phase, new TextDecoder().decode(m.plaintext)])).toEqual([
      [0, 'zero'],
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(h.emitted.filter((e) => e.type === 'verified')).toMatchObject([{ versions: { v: 1 } }]);
    h.actor.stop();
  });

  it('a peer that proves the key and then goes quiet: TimeoutError "exchanging messages" when the budget ends', () => {
    const h = joined({ peerMs: 120_000 });
    const peer = peerWith(h, '4-purple-sausages');
    h.clock.increment(100_000);
    peer.pake();
    peer.send('version', '{"app_versions":{}}');
    h.clock.increment(19_999);
    expect(h.done()).toBe(false);
    h.clock.increment(1);
    h.clock.increment(T.closeMs);
    expect(h.done()).toBe(true);
    const { error, mood } = h.actor.getSnapshot().output!;
    expect(mood).toBe('lonely');
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error!.data).toMatchObject({ phase: 'exchanging messages', ms: 120_000 });
  });
});
