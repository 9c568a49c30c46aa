/**
 * Browser adapters. `LocalforageStorage` is in `@backchannel/sdk/adapters/localforage`, so apps that
 * do not use it need not install `localforage`.
 * @module
 */
export { browserSocketConnector, type WebSocketConstructor, type WebSocketLike } from './browserSocket.js';
export { OpfsStorage } from './opfsStorage.js';
export {
  connectWithPeerJs,
  peerJsRendezvousId,
  type PeerJsOptions,
  type PeerJsConstructor,
  type PeerJsPeer,
  type PeerJsDataConnection,
} from './peerjsTransport.js';
