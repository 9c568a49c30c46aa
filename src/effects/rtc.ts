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

export interface RtcIceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface RtcConfiguration {
  iceServers?: RtcIceServer[];
  iceTransportPolicy?: 'all' | 'relay';
}

export interface RtcSessionDescriptionInit {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp?: string;
}

export interface RtcIceCandidateInit {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface RtcIceCandidate {
  toJSON(): RtcIceCandidateInit;
}

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
