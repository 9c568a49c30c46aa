/**
 * One DISCOVER session, as an XState callback actor: connect to the relay's topic routing, prove the
 * topic key to the relay (signing its challenge) and announce the contact's topic, prove the contact
 * key to every other device on the topic with sealed hellos, then connect to each of them: directly
 * over WebRTC (sealed offer/answer/candidates) or, when told to fall back, through the relayed sealed
 * channel — one channel per peer device (a contact's linked devices share the topic). Everything it
 * does is reported to the parent machine as events naming the peer (its session id); the parent decides
 * when to fall back and when to start over (a new session, with a new session id).
 *
 * Same person, never a channel: a contact's topic is shared by my devices and the contact's. Each hello
 * carries, sealed, `seek`: the public key of the person its device looks for (the contact card's
 * `public_key`, the key the contact's pairing device proved; a linked device gets the same card). My
 * devices all seek the contact's key, the contact's all seek mine: a hello seeking what we seek comes
 * from our own side and is not answered. Without a `seek` on either side (my own devices' channel,
 * cards from before device keys) every device on the topic is a peer.
 * @module
 */
import { fromCallback } from 'xstate';
import { toHex } from '../crypto/bytes.js';
import { proofFor, topicKeyOf } from './topicProofs.js';
import type { Transport } from '../effects/transport.js';
import type { RandomBytes } from '../effects/random.js';
import type { SocketConnector } from '../effects/socket.js';
import type { Clock } from '../effects/clock.js';
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
  /**
   * The public key (hex) of the person this device looks for on the topic: the contact card's
   * `public_key`. Devices seeking the same key are one person's and never connect to each other for
   * this topic. Absent: every device on the topic is a peer (my own devices' channel).
   */
  seek?: string;
  /** Timers for the relayed channel's keepalive (the app's clock, so a simulated one drives it; default the system's). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** How a peer device is reached: a WebRTC data channel, or the relay's sealed relayed channel. */
export type Via = 'direct' | 'relayed';

/**
 * What the DISCOVER session reports to the machine: the relay connection, peers, verification, each
 * peer's channel and failures. `peer` is the peer device's session id (16 hex).
 */
export type SessionEvent =
  | { type: 'session.open' }
  /** `status`/`retryAfterMs`: the relay refused the upgrade with this HTTP status (e.g. 429 busy), asking to wait that long. */
  | { type: 'session.lost'; reason: string; status?: number; retryAfterMs?: number }
  | { type: 'session.announced'; peers: number }
  /** The peer proved the key: negotiation with it begins. */
  | { type: 'session.verified'; peer: string }
  | { type: 'session.connected'; peer: string; channel: Transport; via: Via }
  /** The peer's channel closed, or the peer left before one opened: only this peer is gone. */
  | { type: 'session.channelClosed'; peer: string; reason: string }
  | { type: 'session.rejected'; error: SignalRejectedError }
  | { type: 'session.error'; error: BackchannelError };

/**
 * `fallback`: switch this peer to the relayed transport; `retry`: say hello again to every device on
 * the topic we have no verified peer at; `drop`: give this peer up (its negotiation never opened).
 * `peer` is the peer's session id, as in {@link SessionEvent}.
 */
export type SessionCommand = { type: 'session.fallback'; peer: string } | { type: 'session.retry' } | { type: 'session.drop'; peer: string };

interface Peer {
  relayId: string;
  sid: string;
  /** We sent a hello addressed to its session. */
  greeted: boolean;
  /** It sent a valid hello addressed to our session: it holds the key now. */
  verified: boolean;
  /** Its negotiation and channel (WebRTC, or relayed once both agreed). */
  pc?: RtcPeerConnection;
  channel?: Transport;
  relayed?: RelayedTransport;
  pendingCandidates: RtcIceCandidateInit[];
  /** It is gone (left, said bye, closed): nothing more is done for it. */
  gone?: boolean;
}

/** The `seek` a hello carries, if any. */
function seekOf(body: unknown): string | undefined {
  const seek = (body as { seek?: unknown } | undefined)?.seek;
  return typeof seek === 'string' ? seek : undefined;
}

/** DISCOVER's session actor: the relay connection, sealed signalling and a negotiation per peer device. */
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
  let stopped = false;
  /** Relay peer ids on the topic, to say hello to again while we have no verified peer there. */
  const onTopic = new Set<string>();
  /** Relay peer ids of devices on our own side of the topic (same `seek`): never greeted again. */
  const ownSide = new Set<string>();
  const hello = input.seek === undefined ? undefined : { seek: input.seek };

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
  function signal(to: Peer | string, kind: SignalEnvelope['kind'], body?: unknown): void {
    const relayId = typeof to === 'string' ? to : to.relayId;
    const toSid = typeof to === 'string' ? null : to.sid;
    tx({ type: 'send', topic, to: relayId, kind: 'signal', blob: sealer.seal(toSid, kind, body) });
  }
  const fail = (error: BackchannelError): void => {
    if (!stopped) sendBack({ type: 'session.error', error });
  };
  const verifiedAt = (relayId: string): boolean => [...peers.values()].some((p) => p.relayId === relayId && p.verified);

  /** Say hello to a device on the topic (first contact: addressed to nobody yet). */
  function greet(relayId: string): void {
    if (!ownSide.has(relayId)) signal(relayId, 'hello', hello);
  }

  /**
   * This peer is gone: forget it, close its negotiation and channel, and tell the machine (if it knew
   * of it). `told`: the peer itself ended it (left, bye), so no goodbye is owed.
   */
  function end(peer: Peer, reason: string, told: boolean): void {
    if (peer.gone) return;
    peer.gone = true;
    if (peers.get(peer.sid) === peer) peers.delete(peer.sid);
    const { channel, relayed, pc } = peer;
    peer.channel = peer.relayed = peer.pc = undefined;
    if (relayed) relayed.shut(reason);
    else channel?.close(reason);
    pc?.close();
    if (stopped) return;
    if (!told && peer.verified && onTopic.has(peer.relayId)) signal(peer, 'bye');
    if (peer.verified) sendBack({ type: 'session.channelClosed', peer: peer.sid, reason });
  }

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
          greet(p);
        }
        return;
      case 'joined':
        onTopic.add(m.peer);
        ownSide.delete(m.peer);
        greet(m.peer);
        return;
      case 'left':
        onTopic.delete(m.peer);
        ownSide.delete(m.peer);
        // That device's place on the relay is gone: it crashed, or its session ended. A relayed
        // transport dies with it; a direct one too, though its data channel may say nothing for half a
        // minute (WebRTC's consent checks): a live device comes back on the relay, and both reconnect.
        for (const gone of [...peers.values()].filter((p) => p.relayId === m.peer)) end(gone, 'the other device left the relay', true);
        return;
      case 'message':
        if (m.kind === 'signal') return onSignal(m.from, m.blob);
        return onData(m.from, m.blob);
      case 'error':
        if (m.code === UNPROVEN) return fail(new TopicUnprovenError(`the relay refused ${m.re ?? 'a frame'}: ${m.reason}`, { re: m.re, reason: m.reason }));
        // A frame to a device that just left ("no such peer"): that peer's `left` follows; the others'
        // channels are no reason to start over.
        if (m.re === 'send') return;
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
    if (env.kind === 'hello' && input.seek !== undefined && seekOf(env.body) === input.seek) {
      // A device of our own person: it looks for the same contact we do. Not a peer for this topic.
      ownSide.add(relayId);
      return;
    }
    let peer = peers.get(env.sid);
    if (peer && env.kind === 'hello' && env.to === null && peer.channel) {
      // It greets us as a stranger while we hold a channel to it: it lost that channel (and us). Start over.
      end(peer, 'the other device started over', true);
      peer = undefined;
    }
    if (!peer) peers.set(env.sid, (peer = { relayId, sid: env.sid, greeted: false, verified: false, pendingCandidates: [] }));
    peer.relayId = relayId;
    // A relay peer id is one connection on this topic, so one device: a session id new there is that
    // device starting over, and replaces the old one (or one key holder would open a channel, a SYNC
    // and a file session per session id it makes up).
    for (const other of [...peers.values()]) if (other !== peer && other.relayId === relayId) end(other, 'the other device started over', true);
    if (env.kind === 'hello') {
      if (env.to === sid && !peer.verified) {
        peer.verified = true;
        sendBack({ type: 'session.verified', peer: peer.sid });
        if (input.rtc && sid < peer.sid) void startOffer(peer);
      }
      // Answer every unaddressed hello (the peer is still looking: our earlier answer may be lost),
      // and an addressed one only until we have answered once, so two hellos never ping-pong.
      if (env.to === null || !peer.greeted) {
        peer.greeted = true;
        signal(peer, 'hello', hello);
      }
      return;
    }
    if (!peer.verified) return; // nothing but hellos before the key is proven
    const p = peer;
    switch (env.kind) {
      case 'offer':
        if (input.rtc && !p.channel) void answer(p, env.body as RtcSessionDescriptionInit);
        return;
      case 'answer':
        p.pc?.setRemoteDescription(env.body as RtcSessionDescriptionInit).then(
          () => flushCandidates(p),
          (e: unknown) => fail(new ProtocolError(`bad answer: ${String(e)}`)),
        );
        return;
      case 'candidate':
        if (p.pc?.remoteDescription) p.pc.addIceCandidate(env.body as RtcIceCandidateInit).catch(() => {});
        else p.pendingCandidates.push(env.body as RtcIceCandidateInit);
        return;
      case 'relay':
        // The peer wants the relayed transport: agree (say so back) and open ours. The side that asked
        // first opens when this answer arrives, so neither side holds a channel the other does not.
        if (!p.channel) {
          signal(p, 'relay');
          openRelayed(p);
        }
        return;
      case 'bye':
        end(p, 'the other device said goodbye', true);
        return;
    }
  }

  function onData(relayId: string, blob: string): void {
    const peer = [...peers.values()].find((p) => p.relayed && p.relayId === relayId);
    if (!peer) return;
    try {
      peer.relayed!.receive(blob);
    } catch (err) {
      if (err instanceof SignalRejectedError) sendBack({ type: 'session.rejected', error: err });
    }
  }

  /** A channel to this peer opened: it is the peer's, until it closes. */
  function connected(peer: Peer, ch: Transport, via: Via): void {
    peer.channel = ch;
    ch.on('close', (reason) => peer.channel === ch && end(peer, reason, false));
    sendBack({ type: 'session.connected', peer: peer.sid, channel: ch, via });
  }

  function newPeerConnection(peer: Peer): RtcPeerConnection {
    const conn = new input.rtc!.RTCPeerConnection(input.rtc!.config ?? {});
    conn.onicecandidate = (ev) => {
      if (ev.candidate && !peer.gone) signal(peer, 'candidate', ev.candidate.toJSON ? ev.candidate.toJSON() : ev.candidate);
    };
    conn.ondatachannel = (ev) => adopt(peer, conn, ev.channel);
    return conn;
  }

  function adopt(peer: Peer, conn: RtcPeerConnection, dc: RtcDataChannel): void {
    const open = () => {
      if (peer.channel || peer.gone || stopped || peer.pc !== conn) return;
      connected(peer, input.openDirectTransport!(dc, { onClose: () => conn.close() }), 'direct');
    };
    if (dc.readyState === 'open') open();
    else dc.addEventListener('open', open, { once: true });
  }

  async function startOffer(peer: Peer): Promise<void> {
    try {
      const conn = (peer.pc = newPeerConnection(peer));
      adopt(peer, conn, conn.createDataChannel('backchannel', { ordered: true }));
      await conn.setLocalDescription(await conn.createOffer());
      if (peer.pc === conn) signal(peer, 'offer', { type: conn.localDescription!.type, sdp: conn.localDescription!.sdp });
    } catch (err) {
      if (!peer.gone) fail(new ProtocolError(`WebRTC offer failed: ${String(err)}`));
    }
  }

  async function answer(peer: Peer, offer: RtcSessionDescriptionInit): Promise<void> {
    try {
      peer.pc?.close();
      const conn = (peer.pc = newPeerConnection(peer));
      await conn.setRemoteDescription(offer);
      await flushCandidates(peer);
      await conn.setLocalDescription(await conn.createAnswer());
      if (peer.pc === conn) signal(peer, 'answer', { type: conn.localDescription!.type, sdp: conn.localDescription!.sdp });
    } catch (err) {
      if (!peer.gone) fail(new ProtocolError(`WebRTC answer failed: ${String(err)}`));
    }
  }

  async function flushCandidates(peer: Peer): Promise<void> {
    const queued = peer.pendingCandidates;
    peer.pendingCandidates = [];
    for (const c of queued) await peer.pc?.addIceCandidate(c).catch(() => {});
  }

  function openRelayed(peer: Peer): void {
    if (peer.channel || peer.gone || stopped) return;
    const relayed = new RelayedTransport({
      contactKey: input.contactKey,
      ownSid: sid,
      peerSid: peer.sid,
      randomBytes: input.randomBytes,
      transmit: (blob) => tx({ type: 'send', topic, to: peer.relayId, kind: 'data', blob }),
      ...(input.clock ? { clock: input.clock } : {}),
    });
    peer.relayed = relayed;
    peer.pc?.close();
    peer.pc = undefined;
    connected(peer, relayed, 'relayed');
  }

  receive((command) => {
    const peer = command.type === 'session.retry' ? undefined : peers.get(command.peer);
    if (command.type === 'session.fallback' && peer?.verified && !peer.channel) signal(peer, 'relay');
    if (command.type === 'session.drop' && peer) end(peer, 'no channel opened', false);
    if (command.type === 'session.retry') for (const p of onTopic) if (!verifiedAt(p)) greet(p);
  });

  return () => {
    stopped = true;
    for (const p of [...peers.values()]) {
      if (p.verified && p.channel) signal(p, 'bye');
      end(p, 'session ended', true);
    }
    socket.close();
  };
});
