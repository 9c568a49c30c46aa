/**
 * The wormhole machine on XState's SimulatedClock, its socket `.provide()`d as a stand-in the test
 * drives (no relay, no network): connect timeout, reconnect backoff, giving up (before and after the
 * relay ever answered, and on busy refusals), what each region re-sends after a reconnect, the
 * exchange's time budget and the close that waits for the server only so long. The same machine over a
 * real relay is wormhole-relay.test.ts and pair.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { ConnectionLostError, RelayBusyError, TimeoutError } from '../src/errors.js';
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
