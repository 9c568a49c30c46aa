/**
 * Backchannel: local-first, end-to-end-encrypted contact pairing, connection and sync.
 *
 * This entry point runs in browsers and in Node. Node-only adapters live in `backchannel/adapters/node`,
 * the relay in `backchannel/server`.
 * @module
 */
export { createPairing, BACKCHANNEL_APPID, type Pairing, type PairingOptions, type PairResult, type Invitation, type CallOptions, type PairingStep, type PairingCallOptions } from './pair.js';
export { Wormhole, type WormholeOptions, type Verified } from './wormhole/wormhole.js';
export { wormholeMachine, DEFAULT_TIMEOUTS, type WormholeInput, type WormholeTimeouts, type WormholeOutput } from './machines/wormholeMachine.js';
export { parseCode, normalizeCode, formatCode, generateCode, chooseWords, completeCode, completeWord, type Code, type ParseCodeOptions } from './code/code.js';
export { EVEN_WORDS, ODD_WORDS } from './code/wordlist.js';
export { Spake2Symmetric } from './crypto/spake2.js';
export { deriveKey, derivePhaseKey, deriveVerifier, deriveContactKey, formatVerifier, CONTACT_KEY_PURPOSE } from './crypto/keys.js';
export { seal, open } from './crypto/secretbox.js';
export { discoveryTopic, blake3 } from './crypto/topic.js';
export { constantTimeEqual, toHex, fromHex } from './crypto/bytes.js';
export * from './errors.js';
export type { SocketConnector, SocketHandlers, MailboxSocket, RandomBytes, Clock } from './effects/index.js';
export { cryptoRandomBytes } from './effects/index.js';
export { browserSocketConnector } from './adapters/browserSocket.js';
export { MemoryNetwork, type MemoryServer, type MemoryNetworkOptions } from './adapters/memoryNetwork.js';
export { MemoryStorage } from './adapters/memoryStorage.js';
export { MemoryLink, type MemoryLinkOptions } from './adapters/memoryChannel.js';
export type { StorageAdapter, StorageKey, StorageChunk } from './effects/storage.js';
export type { Channel, ChannelEvents } from './effects/channel.js';
export { Database, documentId, SETTINGS_ID, SYSTEM_KEY, type Contact, type DatabaseOptions } from './db/database.js';
export { DocumentStore, type DocId, type DocumentStoreOptions } from './db/documentStore.js';
export * from './db/schema.js';
export { syncMachine, type SyncInput } from './machines/syncMachine.js';
export { startSyncEngine, type SyncEngineOptions, type EngineEvent } from './sync/syncEngine.js';
export { SYNC_PROTOCOL_VERSION } from './sync/frame.js';
export { discoverMachine, DEFAULT_DISCOVER_TIMEOUTS, type DiscoverInput, type DiscoverTimeouts } from './machines/discoverMachine.js';
export { discoverSession, type DirectChannelFactory, type RtcImplementation, type SessionInput } from './discover/session.js';
export { SignalSealer, SignalOpener, signalKey, type SignalEnvelope, type SignalKind } from './discover/signal.js';
export { RelayedChannel, relayKey, type RelayedChannelOptions } from './discover/relayedChannel.js';
export { WebRtcChannel, openWebRtcChannel, type WebRtcChannelOptions } from './adapters/webrtcChannel.js';
export { connectToContact, type ConnectOptions, type Connection } from './discover/connect.js';
export { createBackchannel, Backchannel, discoveryUrlOf, type BackchannelOptions, type BackchannelSnapshot, type BackchannelEvent, type PairedContact, type PairOptions } from './app/backchannel.js';
export { appMachine, relayStatus, type AppInput, type AppEvent, type AppEmitted, type Via, type RelayStatus } from './machines/appMachine.js';
export { contactLinkMachine, type ContactLinkInput, type LinkPresence } from './machines/contactLinkMachine.js';
export { pairingMachine, type PairingAnnouncement, type PairingOutput, type PairingEvent } from './machines/pairingMachine.js';
export { Journal, JOURNAL_KEY, type JournalOptions, type JournalRecord, type OpenedRecord } from './journal/journal.js';
export { replay, stateOf, BACKCHANNEL_MACHINES, type ReplayedActor, type MachineRegistry } from './journal/replay.js';
export { canonical, type Sealer } from './journal/encode.js';
export { deriveBytes, derivedSource } from './crypto/derive.js';
