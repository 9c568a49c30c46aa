/**
 * Node adapters, kept out of the main entry so browser bundles never pull in `ws`.
 * @module
 */
export { nodeSocketConnector, type NodeSocketOptions } from './nodeSocket.js';
