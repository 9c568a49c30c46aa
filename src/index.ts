/**
 * `@backchannel/sdk`: what a host app needs to embed Backchannel — the façade, pairing on its own,
 * the pairing-code helpers, the typed errors, and the types of what it injects (storage, socket,
 * clock, randomness, WebRTC) and of the data it gets back. Runs in browsers and in Node.
 *
 * The rest is in subpaths: `/adapters/node`, `/adapters/browser`, `/adapters/localforage` (storage
 * and sockets per platform), `/machines` (the XState machines, for the inspector and advanced hosts),
 * `/db`, `/sync`, `/discover`, `/wormhole`, `/journal` (the layers underneath, usable on their own),
 * `/crypto`, `/qr` (a code as a QR: SVG or terminal), `/testing` (in-memory doubles), `/server` and `/server/redis` (the relay).
 * @module
 */
export {
  createBackchannel,
  Backchannel,
  discoveryUrlOf,
  type BackchannelOptions,
  type BackchannelSnapshot,
  type BackchannelEvent,
  type PairedContact,
  type LinkedDevice,
  type DeviceLinkOffer,
  type JoinedDevices,
  type PairOptions,
  type InviteOptions,
  type InviteShown,
  MIN_INVITE_REFRESH_MS,
} from './app/backchannel.js';
export {
  createPairing,
  BACKCHANNEL_APPID,
  type Pairing,
  type PairingOptions,
  type PairResult,
  type Invitation,
  type CallOptions,
  type PairingStep,
  type PairingCallOptions,
  type PairingInviteOptions,
} from './pair.js';
export { parseCode, normalizeCode, formatCode, completeCode, completeWord, type Code, type ParseCodeOptions } from './code/code.js';
// The other forms of a code people share: digits for a keypad, a redeem link; parseAnyCode reads all
// of them. QR rendering is its own entry, `@backchannel/sdk/qr` (it loads `qrcode-generator`).
export { parseAnyCode } from './code/anyCode.js';
export { codeToDigits, parseDigits } from './code/digits.js';
export { redeemLink, linkFragment, MAX_LINK_LENGTH } from './code/link.js';
export * from './errors.js';
export type { SocketConnector, SocketHandlers, MailboxSocket, CloseInfo, RandomBytes, Clock } from './effects/index.js';
export { cryptoRandomBytes } from './effects/index.js';
export type { StorageAdapter, StorageKey, StorageChunk } from './effects/storage.js';
export type { Transport, TransportEvents } from './effects/transport.js';
export type * from './effects/rtc.js';
export type { RtcImplementation } from './discover/session.js';
// The platform WebSocket works in browsers and in Node ≥ 22, and pulls nothing in.
export { browserSocketConnector, type WebSocketConstructor, type WebSocketLike } from './adapters/browserSocket.js';
export type { Contact } from './db/database.js';
export type { OwnDevice } from './devices/linkBundle.js';
export type { DocId } from './db/documentStore.js';
export type { DocumentKind, Versioned, SystemDoc, SettingsDoc, IceServer, ContactDoc, FileRef, Message, ChannelDoc, AnyDoc } from './db/schema.js';
export { DEFAULT_FILE_SIZE_LIMIT } from './db/schema.js';
export type { OutgoingFile, TransferStatus } from './machines/appTypes.js';
export type { FileStatus } from './files/status.js';
export type { FileSource } from './files/source.js';
export type { Via, RelayStatus } from './machines/appMachine.js';
export type { LinkPresence } from './machines/contactLinkMachine.js';
export type { InspectOption, InspectedActor } from './inspect.js';
// For hosts that read `bc.journal`: replay rebuilds each machine's state from it (docs/journal.md).
export { Journal, type JournalOptions, type JournalRecord, type OpenedRecord } from './journal/journal.js';
export { replay, stateOf, type ReplayedActor, type MachineRegistry } from './journal/replay.js';
