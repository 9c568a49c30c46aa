/**
 * The part of the W3C WebRTC API Backchannel touches, as structural types, so the published `.d.ts`
 * compile without the DOM lib (a Node or worker project) while the browser's `window` and
 * `@roamhq/wrtc` still fit as they are: `createBackchannel({ ..., rtc: window })`.
 * @module
 */

/**
 * A callback slot the platform fills with richer event types (`MessageEvent`, `RTCDataChannelEvent`);
 * method syntax makes its parameter bivariant, so their handlers fit and ours read only what we use.
 */
export type RtcHandler<E> = {
  /** The handler itself, called with the platform's event. */
  bivarianceHack(event: E): void;
}['bivarianceHack'];

/** A STUN or TURN server (the W3C `RTCIceServer`). */
export interface RtcIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** The part of WebRTC's `RTCConfiguration` DISCOVER sets: ICE servers and policy. */
export interface RtcConfiguration {
  iceServers?: RtcIceServer[];
  iceTransportPolicy?: 'all' | 'relay';
}

/** An SDP offer or answer as signalled (the W3C `RTCSessionDescriptionInit`). */
export interface RtcSessionDescriptionInit {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
}

/** An ICE candidate as signalled (the W3C `RTCIceCandidateInit`). */
export interface RtcIceCandidateInit {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** The part of the W3C `RTCIceCandidate` DISCOVER uses. */
export interface RtcIceCandidate {
  /** The candidate in the form sent to the peer over the signal channel. */
  toJSON(): RtcIceCandidateInit;
}

/** The part of the W3C `RTCDataChannel` the WebRTC transport uses. */
export interface RtcDataChannel {
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  binaryType: string;
  /** Called with each message the peer sent; `data` is an `ArrayBuffer` once `binaryType` is `'arraybuffer'`. */
  onmessage: RtcHandler<{ data: unknown }> | null;
  /** Called once the channel has closed, from either side. */
  onclose: RtcHandler<unknown> | null;
  /** Called when the channel fails (it closes after). */
  onerror: RtcHandler<unknown> | null;
  /** Queue one message for the peer; `bufferedAmount` grows until it is sent. */
  send(data: Uint8Array<ArrayBuffer>): void;
  /** Close the channel; the peer sees it close too. */
  close(): void;
  /** Wait for the channel to open, or for its send buffer to drain below `bufferedAmountLowThreshold`. */
  addEventListener(type: 'open' | 'bufferedamountlow', listener: () => void, options?: { once?: boolean }): void;
  /** Stop waiting (a listener added with `addEventListener`). */
  removeEventListener(type: 'open' | 'bufferedamountlow', listener: () => void): void;
}

/** The part of the W3C `RTCPeerConnection` DISCOVER uses; the browser's and `@roamhq/wrtc`'s fit it as they are. */
export interface RtcPeerConnection {
  readonly localDescription: { readonly type: RtcSessionDescriptionInit['type']; readonly sdp: string } | null;
  readonly remoteDescription: unknown;
  /** Called with each local ICE candidate to signal to the peer; `null` once gathering is done. */
  onicecandidate: RtcHandler<{ readonly candidate: RtcIceCandidate | null }> | null;
  /** Called on the answering side when the offerer's data channel arrives. */
  ondatachannel: RtcHandler<{ readonly channel: RtcDataChannel }> | null;
  /** Open a data channel (the offering side does, before its offer). */
  createDataChannel(label: string, options?: { ordered?: boolean }): RtcDataChannel;
  /** Make the SDP offer the initiating peer signals. */
  createOffer(): Promise<RtcSessionDescriptionInit>;
  /** Make the SDP answer to the remote offer. */
  createAnswer(): Promise<RtcSessionDescriptionInit>;
  /** Apply our own offer or answer (it starts ICE gathering). */
  setLocalDescription(description?: RtcSessionDescriptionInit): Promise<void>;
  /** Apply the peer's offer or answer, as received over the signal channel. */
  setRemoteDescription(description: RtcSessionDescriptionInit): Promise<void>;
  /** Add an ICE candidate the peer signalled. */
  addIceCandidate(candidate?: RtcIceCandidateInit): Promise<void>;
  /** Tear the connection and its channels down. */
  close(): void;
}

/** `RTCPeerConnection` itself: the browser's global, or `@roamhq/wrtc`'s in Node. */
export type RtcPeerConnectionConstructor = new (configuration?: RtcConfiguration) => RtcPeerConnection;
