/**
 * `@backchannel/sdk/sync`: Automerge sync of a set of documents over a `Transport`
 * (`syncMachine` in `/machines` runs it as an actor).
 * @module
 */
export { startSyncEngine, type SyncEngineOptions, type EngineEvent } from './syncEngine.js';
export { SYNC_PROTOCOL_VERSION } from './frame.js';
export { MAX_UNPACKED_BYTES } from './unpackBound.js';
