/**
 * `@backchannel/sdk/journal`: the event journal and replay (docs/journal.md).
 * @module
 */
export { Journal, JOURNAL_KEY, type JournalOptions, type JournalRecord, type OpenedRecord } from './journal.js';
export { replay, stateOf, BACKCHANNEL_MACHINES, type ReplayedActor, type MachineRegistry } from './replay.js';
export { canonical, type Sealer, type Json } from './encode.js';
