/**
 * One DISCOVER session, as an XState callback actor: connect to the relay's topic routing, prove the
 * topic key to the relay (signing its challenge) and announce the contact's topic, prove the contact
 * key to the other device with sealed hellos, then connect directly
 * over WebRTC (sealed offer/answer/candidates) or, when told to fall back, through the relayed sealed
 * channel. Everything it does is reported to the parent machine as events; the parent decides when to
 * fall back and when to start over (a new session, with a new session id).
 * @module
 */
import { fromCallback } from 'xstate';
import { toHex } from '../crypto/bytes.js';
import { proofFor, topicKeyOf } from './topicProofs.js';
import type { Transport } from '../effects/transport.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import { BackchannelError, InvalidArgumentError, ProtocolError, SignalRejectedError, TopicUnprovenError } from '../errors.js';
import type {
  RtcConfiguration,
  RtcDataChannel,
  RtcIceCandidateInit,
  RtcPeerConnection,
  RtcPeerConnectionConstructor,
  RtcSessionDescriptionInit,
} from '../effects/rtc.js';
import { RelayedTransport } from './relayedTransport.js';
import { SignalOpener, SignalSealer, signalKey, type SignalEnvelope } from './signal.js';
import { parseDiscoverReply, UNPROVEN, type DiscoverRequest } from './wire.js';

/** The W3C WebRTC API to use: the browser's globals, or e.g. `@roamhq/wrtc` in Node. */
export interface RtcImplementation {
  RTCPeerConnection: RtcPeerConnectionConstructor;
  /** ICE servers (STUN/TURN) and policy, e.g. from Settings. */
  config?: RtcConfiguration;
}

/**
 * Wraps an open RTCDataChannel as the {@link Transport} SYNC runs over; `onClose` is called once it
 * closed (the session closes the peer connection). The app and `connectToContact` pass
 * `openWebRtcTransport` (adapters/webrtcTransport.ts): machines never import adapters.
 */
export type DirectTransportFactory = (dataChannel: RtcDataChannel, options: { onClose(): void }) => Transport;

/** The DISCOVER session actor's input. */
export interface SessionInput {
  contactKey: Uint8Array;
  /** The relay's discovery endpoint, `ws://host:port/backchannel/v2`. */
  url: string;
  connector: SocketConnector;
  randomBytes: RandomBytes;
  /** Without it, only the relayed transport is possible. */
  rtc?: RtcImplementation;
  /** Required with `rtc`: how an open data channel becomes a {@link Transport}. */
  openDirectTransport?: DirectTransportFactory;
}

/** What the DISCOVER session reports to the machine: the relay connection, peers, verification, the channel and failures. */
export type SessionEvent =
  | { type: 'session.open' }
  /** `status`/`retryAfterMs`: the relay refused the upgrade with this HTTP status (e.g. 429 busy), asking to wait that long. */
  | { type: 'session.lost'; reason: string; status?: number; retryAfterMs?: number }
  | { type: 'session.announced'; peers: number }
  | { type: 'session.verified'; peer: string }
  | { type: 'session.connected'; channel: Transport; via: 'direct' | 'relayed' }
  | { type: 'session.channelClosed'; reason: string }
  | { type: 'session.rejected'; error: SignalRejectedError }
  | { type: 'session.error'; error: BackchannelError };

/** `fallback`: switch to the relayed transport; `retry`: say hello again to everyone on the topic. */
export type SessionCommand = { type: 'session.fallback' } | { type: 'session.retry' };

interface Peer {
  relayId: string;
  sid: string;
  /** We sent a hello addressed to its session. */
  greeted: boolean;
  /** It sent a valid hello addressed to our session: it holds the key now. */
  verified: boolean;
}

/** DISCOVER's session actor: the relay connection, sealed signalling and the WebRTC negotiation. */
export const discoverSession = fromCallback<SessionCommand, SessionInput, SessionEvent>(({ input, sendBack, receive }) => {
  if (input.rtc && !input.openDirectTransport)
    throw new InvalidArgumentError('"rtc" needs "openDirectTransport" (e.g. openWebRtcTransport from the WebRTC adapter)');
  const topicPair = topicKeyOf(input.contactKey);
  const topic = topicPair.topic;
  /** The relay's challenge arrived and was answered: announce once, whatever it sends again. */
  let proved = false;
  const key = signalKey(input.contactKey);
  const sid = toHex(input.randomBytes(8));
  const sealer = new SignalSealer(key, sid, input.randomBytes);
  const opener = new SignalOpener(key, sid);
  const peers = new Map<string, Peer>(); // by sid
  let active: Peer | undefined; // the peer we connect to (v1: one device per contact)
  let pc: RtcPeerConnection | undefined;
  let channel: Transport | undefined;
  let relayed: RelayedTransport | undefined;
  let pendingCandidates: RtcIceCandidateInit[] = [];
  let stopped = false;
  /** Relay peer ids on the topic, to say hello to again when nothing moves. */
  const onTopic = new Set<string>();

  const socket = input.connector(input.url, {
    // Announcing waits for the relay's challenge: the topic is proven first (frames are handled in order).
    onOpen: () => sendBack({ type: 'session.open' }),
    onMessage: (text) => onFrame(text),
    onClose: (info) => {
      if (stopped) return;
      const { status, retryAfterMs } = info;
      sendBack({
        type: 'session.lost',
        reason: info.reason ?? `closed (${info.code ?? '?'})`,
        ...(status === undefined ? {} : { status }),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    },
  });

  function tx(frame: DiscoverRequest): void {
    socket.send(JSON.stringify(frame));
  }
  function signal(to: Peer | string, kind: SignalEnvelope['kind'], body?: unknown, addressed = true): void {
    const relayId = typeof to === 'string' ? to : to.relayId;
    const toSid = typeof to === 'string' || !addressed ? null : to.sid;
    tx({ type: 'send', topic, to: relayId, kind: 'signal', blob: sealer.seal(toSid, kind, body) });
  }
  const fail = (error: BackchannelError): void => {
    if (!stopped) sendBack({ type: 'session.error', error });
  };

  function onFrame(text: string): void {
    const read = parseDiscoverReply(text);
    if (!read.ok) {
      if (read.error.data.unknown === true) return; // a frame type from a newer relay
      return fail(read.error);
    }
    const m = read.frame;
    switch (m.type) {
      case 'challenge':
        if (proved) return;
        proved = true;
        tx({ type: 'prove', ...proofFor(topicPair, m.challenge) });
        tx({ type: 'announce', topic });
        return;
      case 'proven':
        return;
      case 'announced':
        sendBack({ type: 'session.announced', peers: m.peers.length });
        for (const p of m.peers) {
          onTopic.add(p);
          signal(p, 'hello'); // first contact: addressed to nobody yet
        }
        return;
      case 'joined':
        onTopic.add(m.peer);
        signal(m.peer, 'hello');
        return;
      case 'left': {
        onTopic.delete(m.peer);
        const gone = [...peers.values()].find((p) => p.relayId === m.peer);
        if (gone) peers.delete(gone.sid);
        if (gone && gone === active) {
          // The other device's place on the relay is gone: it crashed, or its session ended. A relayed
          // transport dies with it; a direct one too, though its data channel may say nothing for half a
          // minute (WebRTC's consent checks): a live device comes back on the relay, and both reconnect.
          if (relayed) relayed.shut('the other device left the relay');
          else if (channel) channel.close('the other device left the relay');
          else sendBack({ type: 'session.channelClosed', reason: 'the other device left' });
        }
        return;
      }
      case 'message':
        if (m.kind === 'signal') return onSignal(m.from, m.blob);
        return onData(m.from, m.blob);
      case 'error':
        if (m.code === UNPROVEN) return fail(new TopicUnprovenError(`the relay refused ${m.re ?? 'a frame'}: ${m.reason}`, { re: m.re, reason: m.reason }));
        return fail(new ProtocolError(`the relay refused ${m.re ?? 'a frame'}: ${m.reason}`, { re: m.re, reason: m.reason }));
      case 'pong':
        return;
    }
  }

  function onSignal(relayId: string, blob: string): void {
    let env: SignalEnvelope;
    try {
      env = opener.open(blob);
    } catch (err) {
      // Logged and dropped: an attacker on the topic must not be able to tear down our session.
      if (err instanceof SignalRejectedError) sendBack({ type: 'session.rejected', error: err });
      return;
    }
    let peer = peers.get(env.sid);
    if (!peer) peers.set(env.sid, (peer = { relayId, sid: env.sid, greeted: false, verified: false }));
    peer.relayId = relayId;
    if (env.kind === 'hello') {
      if (env.to === sid && !peer.verified) {
        peer.verified = true;
        if (!active) {
          active = peer;
          sendBack({ type: 'session.verified', peer: peer.sid });
          if (input.rtc && sid < peer.sid) void startOffer(peer);
        }
      }
      // Answer every unaddressed hello (the peer is still looking: our earlier answer may be lost),
      // and an addressed one only until we have answered once, so two hellos never ping-pong.
      if (env.to === null || !peer.greeted) {
        peer.greeted = true;
        signal(peer, 'hello');
      }
      return;
    }
    if (!peer.verified) return; // nothing but hellos before the key is proven
    switch (env.kind) {
      case 'offer':
        if (peer === active && input.rtc) void answer(peer, env.body as RtcSessionDescriptionInit);
        return;
      case 'answer':
        if (peer === active && pc)
          pc.setRemoteDescription(env.body as RtcSessionDescriptionInit).then(flushCandidates, (e: unknown) =>
            fail(new ProtocolError(`bad answer: ${String(e)}`)),
          );
        return;
      case 'candidate':
        if (peer !== active) return;
        if (pc?.remoteDescription) pc.addIceCandidate(env.body as RtcIceCandidateInit).catch(() => {});
        else pendingCandidates.push(env.body as RtcIceCandidateInit);
        return;
      case 'relay':
        // The peer wants the relayed transport: agree (say so back) and open ours. The side that asked
        // first opens when this answer arrives, so neither side holds a channel the other does not.
        if (peer === active && !channel) {
          signal(peer, 'relay');
          openRelayed(peer);
        }
        return;
      case 'bye':
        if (peer === active) {
          relayed?.shut('the other device said goodbye');
          channel?.close('the other device said goodbye');
        }
        return;
    }
  }

  function onData(relayId: string, blob: string): void {
    if (!relayed || !active || active.relayId !== relayId) return;
    try {
      relayed.receive(blob);
    } catch (err) {
      if (err instanceof SignalRejectedError) sendBack({ type: 'session.rejected', error: err });
    }
  }

  function newPeerConnection(peer: Peer): RtcPeerConnection {
    const conn = new input.rtc!.RTCPeerConnection(input.rtc!.config ?? {});
    conn.onicecandidate = (ev) => {
      if (ev.candidate) signal(peer, 'candidate', ev.candidate.toJSON ? ev.candidate.toJSON() : ev.candidate);
    };
    conn.ondatachannel = (ev) => adopt(ev.channel);
    return conn;
  }

  function adopt(dc: RtcDataChannel): void {
    const open = () => {
      if (channel || stopped) return;
      const ch = input.openDirectTransport!(dc, { onClose: () => pc?.close() });
      channel = ch;
      ch.on('close', (reason) => !stopped && sendBack({ type: 'session.channelClosed', reason }));
      sendBack({ type: 'session.connected', channel: ch, via: 'direct' });
    };
    if (dc.readyState === 'open') open();
    else dc.addEventListener('open', open, { once: true });
  }

  async function startOffer(peer: Peer): Promise<void> {
    try {
      pc = newPeerConnection(peer);
      adopt(pc.createDataChannel('backchannel', { ordered: true }));
      await pc.setLocalDescription(await pc.createOffer());
      signal(peer, 'offer', { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp });
    } catch (err) {
      fail(new ProtocolError(`WebRTC offer failed: ${String(err)}`));
    }
  }

  async function answer(peer: Peer, offer: RtcSessionDescriptionInit): Promise<void> {
    try {
      pc?.close();
      pc = newPeerConnection(peer);
      await pc.setRemoteDescription(offer);
      await flushCandidates();
      await pc.setLocalDescription(await pc.createAnswer());
      signal(peer, 'answer', { type: pc.localDescription!.type, sdp: pc.localDescription!.sdp });
    } catch (err) {
      fail(new ProtocolError(`WebRTC answer failed: ${String(err)}`));
    }
  }

  async function flushCandidates(): Promise<void> {
    const queued = pendingCandidates;
    pendingCandidates = [];
    for (const c of queued) await pc?.addIceCandidate(c).catch(() => {});
  }

  function openRelayed(peer: Peer): void {
    if (relayed || channel || stopped) return;
    relayed = new RelayedTransport({
      contactKey: input.contactKey,
      ownSid: sid,
      peerSid: peer.sid,
      randomBytes: input.randomBytes,
      transmit: (blob) => tx({ type: 'send', topic, to: peer.relayId, kind: 'data', blob }),
      onClose: () => signal(peer, 'bye'),
    });
    const ch = relayed;
    channel = ch;
    pc?.close();
    ch.on('close', (reason) => !stopped && sendBack({ type: 'session.channelClosed', reason }));
    sendBack({ type: 'session.connected', channel: ch, via: 'relayed' });
  }

  receive((command) => {
    if (command.type === 'session.fallback' && active && !channel) signal(active, 'relay');
    if (command.type === 'session.retry') for (const p of onTopic) signal(p, 'hello');
  });

  return () => {
    stopped = true;
    if (active && channel) signal(active, 'bye');
    relayed?.shut('session ended');
    channel?.close('session ended');
    pc?.close();
    socket.close();
  };
});
