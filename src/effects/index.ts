/**
 * The interfaces through which every side effect reaches the core. Nothing in `machines/` or `crypto/`
 * touches a socket, a timer or a random source except through these.
 * @module
 */
export type { SocketConnector, SocketHandlers, MailboxSocket, CloseInfo } from './socket.js';
export type { RandomBytes } from './random.js';
export { cryptoRandomBytes } from './random.js';
export { systemClock, type Clock } from './clock.js';
export type { ByteStream, ByteStreamAddress, ByteStreamConnector } from './byteStream.js';
