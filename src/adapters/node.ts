/**
 * Node adapters, kept out of the main entry so browser bundles never pull in `ws` or `node:fs`.
 * @module
 */
export { nodeSocketConnector, type NodeSocketOptions } from './nodeSocket.js';
export { NodeFsStorage } from './nodeFsStorage.js';
export { nodeTcpConnector, type NodeTcpOptions } from './nodeTcp.js';
export { fileFromPath, saveFile } from './nodeFile.js';
export type { ByteStream, ByteStreamAddress, ByteStreamConnector } from '../effects/byteStream.js';
