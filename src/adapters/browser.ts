/**
 * Browser adapters.
 * @module
 */
export { browserSocketConnector } from './browserSocket.js';
export { LocalforageStorage } from './localforageStorage.js';
export { OpfsStorage } from './opfsStorage.js';
export { connectWithPeerJs, peerJsRendezvousId, type PeerJsOptions, type PeerJsConstructor } from './peerjsChannel.js';
