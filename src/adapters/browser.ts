/**
 * Browser adapters.
 * @module
 */
export { browserSocketConnector } from './browserSocket.js';
