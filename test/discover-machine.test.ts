/**
 * The DISCOVER machine on XState's SimulatedClock, its `session` actor (the I/O: relay socket, sealed
 * signalling, WebRTC) `.provide()`d as a stand-in the test drives: the announce timeout, reconnect
 * backoff and giving up, hellos repeated while waiting, the wait for WebRTC before the relayed fallback,
 * and what the outside hears when a channel comes and goes. The real session is in discover-relayed,
 * discover-webrtc and (under faults, as a property) discover-faults.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { MemoryLink } from '../src/adapters/memoryLink.js';
import { advance } from './helpers/clock.js';
import { AbortedError, ConnectionLostError, SignalRejectedError } from '../src/errors.js';
import type { SessionCommand, SessionEvent } from '../src/discover/session.js';
import { DEFAULT_DISCOVER_TIMEOUTS, discoverMachine, type DiscoverEmitted, type DiscoverInput } from '../src/machines/discoverMachine.js';

const T = DEFAULT_DISCOVER_TIMEOUTS;

interface FakeSession {
  sendBack: (e: SessionEvent) => void;
  commands: SessionCommand['type'][];
  startedAt: number;
  stopped: boolean;
}

function harness(input: Partial<DiscoverInput> = {}) {
  const clock = new SimulatedClock();
  const sessions: FakeSession[] = [];
  const machine = discoverMachine.provide({
    actors: {
      session: fromCallback(({ sendBack, receive }) => {
        const s: FakeSession = { sendBack: sendBack as FakeSession['sendBack'], commands: [], startedAt: clock.now(), stopped: false };
        sessions.push(s);
        receive((c) => s.commands.push((c as SessionCommand).type));
        return () => (s.stopped = true);
      }),
    } as never,
  });
  const actor = createActor(machine, {
    clock,
    input: {
      contactKey: new Uint8Array(32).fill(1),
      url: 'ws://relay.test/backchannel/v2',
      connector: () => {
        throw new Error('the session actor is provided');
      },
      randomBytes: (n: number) => new Uint8Array(n),
      ...input,
    },
  });
  const emitted: DiscoverEmitted[] = [];
  for (const type of ['connected', 'disconnected', 'rejected'] as const) actor.on(type, (e) => emitted.push(e));
  actor.start();
  const session = () => sessions.at(-1)!;
  const say = (e: SessionEvent) => session().sendBack(e);
  return {
    clock,
    actor,
    sessions,
    session,
    emitted,
    say,
    state: () => JSON.stringify(actor.getSnapshot().value),
    /** What the last session was asked besides the periodic `session.retry`. */
    asked: () => session().commands.filter((c) => c !== 'session.retry'),
    /** Open, announced, and the other device proved the key. */
    found: () => {
      say({ type: 'session.open' });
      say({ type: 'session.announced', peers: 1 });
      say({ type: 'session.verified', peer: 'p1' });
    },
    untilNextSession: () => {
      const [before, from] = [sessions.length, clock.now()];
      while (sessions.length === before) clock.increment(1);
      return clock.now() - from;
    },
  };
}

const channel = () => new MemoryLink().a;

describe('discoverMachine: reaching the relay (simulated clock)', () => {
  it('a relay that never opens the socket: a fresh session after announceMs plus reconnectBaseMs', () => {
    const h = harness();
    h.clock.increment(T.announceMs - 1);
    expect(h.state()).toBe('{"session":"connecting"}');
    h.clock.increment(1);
    expect(h.session().stopped).toBe(true);
    expect(h.untilNextSession()).toBe(T.reconnectBaseMs);
    h.actor.stop();
  });

  it('a relay that opens but never answers the announce: same timeout, and the backoff keeps growing', () => {
    const h = harness();
    h.say({ type: 'session.open' });
    h.clock.increment(T.announceMs);
    expect(h.state()).toBe('"reconnecting"');
    h.untilNextSession();
    h.say({ type: 'session.open' });
    h.clock.increment(T.announceMs);
    expect(h.untilNextSession()).toBe(2 * T.reconnectBaseMs);
    h.actor.stop();
  });

  it('gives up after maxAttempts failures in a row with ConnectionLostError, the backoff capped at reconnectMaxMs', () => {
    const h = harness();
    const waits: number[] = [];
    for (let i = 1; i < T.maxAttempts; i++) {
      h.say({ type: 'session.lost', reason: 'refused' });
      waits.push(h.untilNextSession());
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    h.say({ type: 'session.lost', reason: 'refused' });
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.state()).toBe('"failed"');
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(ConnectionLostError);
  });

  it('an announce the relay accepts resets the attempts: the next loss waits reconnectBaseMs', () => {
    const h = harness();
    for (let i = 0; i < 5; i++) {
      h.say({ type: 'session.error', error: new ConnectionLostError('gone') });
      h.untilNextSession();
    }
    h.say({ type: 'session.open' });
    h.say({ type: 'session.announced', peers: 0 });
    h.say({ type: 'session.lost', reason: 'relay restarted' });
    expect(h.untilNextSession()).toBe(T.reconnectBaseMs);
    h.actor.stop();
  });
});

describe('discoverMachine: finding the other device (simulated clock)', () => {
  it('while nobody proves the key, says hello again every retryMs, and never times out', () => {
    const h = harness();
    h.say({ type: 'session.open' });
    h.say({ type: 'session.announced', peers: 0 });
    h.clock.increment(T.retryMs - 1);
    expect(h.session().commands).toEqual([]);
    h.clock.increment(1);
    expect(h.session().commands).toEqual(['session.retry']);
    advance(h.clock, 10 * T.retryMs);
    expect(h.session().commands).toHaveLength(11);
    expect(h.sessions).toHaveLength(1);
    expect(h.state()).toBe('{"session":"waiting"}');
    h.actor.stop();
  });

  it('with WebRTC: waits directMs for a direct channel, then asks for the relayed one every retryMs until it opens', () => {
    const h = harness({ rtc: {} as DiscoverInput['rtc'] });
    h.found();
    expect(h.state()).toBe('{"session":"negotiating"}');
    h.clock.increment(T.directMs - 1);
    expect(h.asked()).toEqual([]);
    h.clock.increment(1);
    expect(h.asked()).toEqual(['session.fallback']);
    advance(h.clock, 2 * T.retryMs);
    expect(h.asked()).toEqual(['session.fallback', 'session.fallback', 'session.fallback']);
    const c = channel();
    h.say({ type: 'session.connected', peer: 'p1', channel: c, via: 'relayed' });
    expect(h.state()).toBe('{"session":{"connected":"relayed"}}');
    expect(h.emitted).toEqual([{ type: 'connected', peer: 'p1', channel: c, via: 'relayed' }]);
    advance(h.clock, 10 * T.retryMs);
    expect(h.asked()).toHaveLength(3); // connected: no more asking
    h.actor.stop();
  });

  it('a direct channel within directMs is adopted and no fallback is asked for', () => {
    const h = harness({ rtc: {} as DiscoverInput['rtc'] });
    h.found();
    h.clock.increment(T.directMs - 1);
    h.say({ type: 'session.connected', peer: 'p1', channel: channel(), via: 'direct' });
    h.clock.increment(T.directMs);
    expect(h.state()).toBe('{"session":{"connected":"direct"}}');
    expect(h.asked()).toEqual([]);
    expect(h.emitted.map((e) => e.type === 'connected' && e.via)).toEqual(['direct']);
    h.actor.stop();
  });

  it('without WebRTC the fallback is asked for at once; with `relayed: false` it is never asked for, and a WebRTC attempt that never opens gives way to a fresh session', () => {
    const h = harness();
    h.found();
    expect(h.state()).toBe('{"session":"falling"}');
    expect(h.session().commands).toEqual(['session.fallback']);
    h.actor.stop();

    const direct = harness({ rtc: {} as DiscoverInput['rtc'], relayed: false });
    direct.found();
    advance(direct.clock, T.directMs - 1);
    expect(direct.state()).toBe('{"session":"negotiating"}');
    direct.clock.increment(1);
    expect(direct.state()).toBe('"reconnecting"');
    expect(direct.sessions[0]!.stopped).toBe(true);
    expect(direct.sessions[0]!.commands.filter((c) => c !== 'session.retry')).toEqual([]);
    advance(direct.clock, T.reconnectBaseMs);
    expect(direct.sessions).toHaveLength(2);
    expect(direct.state()).toBe('{"session":"connecting"}');
    direct.actor.stop();
  });
});

describe('discoverMachine: several devices on the topic (simulated clock)', () => {
  it('a channel per peer; one peer going leaves the other connected, and the session lives on', () => {
    const h = harness();
    h.found();
    h.say({ type: 'session.verified', peer: 'p2' });
    expect(h.asked()).toEqual(['session.fallback', 'session.fallback']);
    const [c1, c2] = [channel(), channel()];
    h.say({ type: 'session.connected', peer: 'p1', channel: c1, via: 'relayed' });
    h.say({ type: 'session.connected', peer: 'p2', channel: c2, via: 'relayed' });
    expect(h.state()).toBe('{"session":{"connected":"relayed"}}');
    expect(Object.keys(h.actor.getSnapshot().context.peers)).toEqual(['p1', 'p2']);
    h.say({ type: 'session.channelClosed', peer: 'p1', reason: 'Alice went' });
    expect(h.emitted.map((e) => [e.type, 'peer' in e && e.peer])).toEqual([
      ['connected', 'p1'],
      ['connected', 'p2'],
      ['disconnected', 'p1'],
    ]);
    expect(h.state()).toBe('{"session":{"connected":"relayed"}}');
    expect(h.sessions).toHaveLength(1);
    expect(h.session().stopped).toBe(false);
    // The last one going starts a fresh session, and its channel is announced lost.
    h.say({ type: 'session.channelClosed', peer: 'p2', reason: 'Alice2 went' });
    expect(h.emitted.at(-1)).toEqual({ type: 'disconnected', peer: 'p2', reason: 'Alice2 went' });
    expect(h.state()).toBe('"reconnecting"');
    h.actor.stop();
  });

  it('one direct peer makes the session connected.direct; a peer still negotiating keeps its own WebRTC wait', () => {
    const h = harness({ rtc: {} as DiscoverInput['rtc'] });
    h.found();
    h.clock.increment(T.directMs / 2);
    h.say({ type: 'session.verified', peer: 'p2' });
    h.say({ type: 'session.connected', peer: 'p1', channel: channel(), via: 'direct' });
    expect(h.state()).toBe('{"session":{"connected":"direct"}}');
    h.clock.increment(T.directMs / 2);
    expect(h.asked()).toEqual([]); // p1 connected: its wait ran out for nothing
    h.clock.increment(T.directMs / 2);
    expect(h.asked()).toEqual(['session.fallback']); // p2's wait
    expect(h.actor.getSnapshot().context.peers['p2']!.phase).toBe('falling');
    h.actor.stop();
  });

  it('with `relayed: false`, a peer whose WebRTC never opens is dropped while another is connected', () => {
    const h = harness({ rtc: {} as DiscoverInput['rtc'], relayed: false });
    h.found();
    h.say({ type: 'session.connected', peer: 'p1', channel: channel(), via: 'direct' });
    h.say({ type: 'session.verified', peer: 'p2' });
    h.clock.increment(T.directMs);
    expect(h.asked()).toEqual(['session.drop']);
    expect(h.state()).toBe('{"session":{"connected":"direct"}}');
    h.actor.stop();
  });
});

describe('discoverMachine: losing and stopping (simulated clock)', () => {
  it('a closed channel is announced once as disconnected, and a fresh session follows after reconnectBaseMs', () => {
    const h = harness();
    h.found();
    h.say({ type: 'session.connected', peer: 'p1', channel: channel(), via: 'relayed' });
    h.say({ type: 'session.channelClosed', peer: 'p1', reason: 'peer left' });
    expect(h.emitted.map((e) => e.type)).toEqual(['connected', 'disconnected']);
    expect(h.emitted[1]).toEqual({ type: 'disconnected', peer: 'p1', reason: 'peer left' });
    expect(h.actor.getSnapshot().context.peers).toEqual({});
    expect(h.session().stopped).toBe(true);
    expect(h.untilNextSession()).toBe(T.reconnectBaseMs);
    h.actor.stop();
  });

  it('STOP while connected: disconnected is announced, the session ends, and the output is AbortedError', () => {
    const h = harness();
    h.found();
    h.say({ type: 'session.connected', peer: 'p1', channel: channel(), via: 'relayed' });
    h.actor.send({ type: 'STOP' });
    expect(h.emitted.map((e) => e.type)).toEqual(['connected', 'disconnected']);
    expect(h.session().stopped).toBe(true);
    expect(h.state()).toBe('"stopped"');
    expect(h.actor.getSnapshot().output!.error).toBeInstanceOf(AbortedError);
  });

  it('rejected signals are counted and passed on, and do not disturb the phase', () => {
    const h = harness();
    h.say({ type: 'session.open' });
    h.say({ type: 'session.announced', peers: 1 });
    const error = new SignalRejectedError('forged', 'a hello that did not open');
    h.say({ type: 'session.rejected', error });
    h.say({ type: 'session.rejected', error });
    expect(h.actor.getSnapshot().context.rejected).toBe(2);
    expect(h.emitted).toEqual([
      { type: 'rejected', error },
      { type: 'rejected', error },
    ]);
    expect(h.state()).toBe('{"session":"waiting"}');
    h.actor.stop();
  });
});
