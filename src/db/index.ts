/**
 * `@backchannel/sdk/db`: the database on its own — Automerge documents on a `StorageAdapter`,
 * their schema and validation.
 * @module
 */
export { Database, documentId, SETTINGS_ID, SYSTEM_KEY, type Contact, type DatabaseOptions, type PendingRotation } from './database.js';
export { DocumentStore, type DocId, type DocumentStoreOptions, type UpdateResult, type TheirKeys } from './documentStore.js';
export {
  MESSAGE_SIGNATURE_PURPOSE,
  messageSignatureBytes,
  signMessage,
  verifyMessage,
  checkSender,
  type SignedFields,
  type SenderKeys,
  type SenderVerdict,
} from './messageSignature.js';
export type { Trust, ChangeSource } from './peerRules.js';
export type { DeviceSetStatement } from '../devices/notices.js';
export {
  SCHEMA_VERSIONS,
  DEFAULT_RELAY_SERVER,
  LIMITS,
  validate,
  type DocumentKind,
  type Versioned,
  type SystemDoc,
  type SettingsDoc,
  type IceServer,
  type ContactDoc,
  type FileRef,
  type Message,
  type ChannelDoc,
  type AnyDoc,
  type DocumentLimits,
  type Problems,
} from './schema.js';
export type { StorageAdapter, StorageKey, StorageChunk } from '../effects/storage.js';
