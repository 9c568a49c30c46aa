/**
 * `@backchannel/sdk/discover`: finding a contact's device by its key — sealed signalling, WebRTC and
 * the sealed relayed transport (`discoverMachine` in `/machines` runs it as an actor).
 * @module
 */
export { connectToContact, type ConnectOptions, type Connection } from './connect.js';
export { discoverSession, type DirectTransportFactory, type RtcImplementation, type SessionInput, type SessionEvent, type SessionCommand } from './session.js';
export { SignalSealer, SignalOpener, signalKey, type SignalEnvelope, type SignalKind } from './signal.js';
export { RelayedTransport, relayKey, RELAYED_KEEPALIVE_MS, RELAYED_DEAD_MS, type RelayedTransportOptions } from './relayedTransport.js';
export { RelayMux, type RelayMuxOptions } from './relayMux.js';
export { WebRtcTransport, openWebRtcTransport, type WebRtcTransportOptions } from '../adapters/webrtcTransport.js';
