/**
 * `@backchannel/sdk/adapters/localforage`: storage in IndexedDB through localforage, an optional peer
 * dependency (`npm i localforage`).
 * @module
 */
export { LocalforageStorage } from './localforageStorage.js';
