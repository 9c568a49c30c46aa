/**
 * The file session (files/session.ts) as an actor a contact link invokes beside SYNC while its
 * contact is connected: it reports progress and outcomes to the link and takes `file.cancel`.
 * @module
 */
import { fromCallback } from 'xstate';
import type { Transport } from '../effects/transport.js';
import type { StorageAdapter } from '../effects/storage.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import { chunkStoreOf } from './chunkStore.js';
import { startFileSession, type FileEvent } from './session.js';

export interface FileSessionInput {
  channel: Transport;
  storage: StorageAdapter;
  docs: DocumentStore;
  channelId: DocId;
  deviceId: string;
  maxFileBytes: number;
}

/** What the link may tell a running session. */
export type FileCommand = { type: 'file.cancel'; hash: string };

export const fileSessionActor = fromCallback<FileCommand, FileSessionInput, FileEvent>(({ input, sendBack, receive }) => {
  const session = startFileSession({ ...input, store: chunkStoreOf(input.storage), emit: sendBack });
  receive((command) => session.cancel(command.hash));
  return () => session.stop();
});
