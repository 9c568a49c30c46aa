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
export type RtcHandler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

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
  toJSON(): RtcIceCandidateInit;
}

/** The part of the W3C `RTCDataChannel` the WebRTC transport uses. */
export interface RtcDataChannel {
  readonly readyState: string;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  binaryType: string;
  onmessage: RtcHandler<{ data: unknown }> | null;
  onclose: RtcHandler<unknown> | null;
  onerror: RtcHandler<unknown> | null;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(): void;
  addEventListener(type: 'open' | 'bufferedamountlow', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'open' | 'bufferedamountlow', listener: () => void): void;
}

/** The part of the W3C `RTCPeerConnection` DISCOVER uses; the browser's and `@roamhq/wrtc`'s fit it as they are. */
export interface RtcPeerConnection {
  readonly localDescription: { readonly type: RtcSessionDescriptionInit['type']; readonly sdp: string } | null;
  readonly remoteDescription: unknown;
  onicecandidate: RtcHandler<{ readonly candidate: RtcIceCandidate | null }> | null;
  ondatachannel: RtcHandler<{ readonly channel: RtcDataChannel }> | null;
  createDataChannel(label: string, options?: { ordered?: boolean }): RtcDataChannel;
  createOffer(): Promise<RtcSessionDescriptionInit>;
  createAnswer(): Promise<RtcSessionDescriptionInit>;
  setLocalDescription(description?: RtcSessionDescriptionInit): Promise<void>;
  setRemoteDescription(description: RtcSessionDescriptionInit): Promise<void>;
  addIceCandidate(candidate?: RtcIceCandidateInit): Promise<void>;
  close(): void;
}

/** `RTCPeerConnection` itself: the browser's global, or `@roamhq/wrtc`'s in Node. */
export type RtcPeerConnectionConstructor = new (configuration?: RtcConfiguration) => RtcPeerConnection;
