/**
 * The file session (files/session.ts) as an actor a contact link invokes beside SYNC while its
 * contact is connected: it reports progress and outcomes to the link and takes `file.cancel`.
 * @module
 */
import { fromCallback } from 'xstate';
import type { Transport } from '../effects/transport.js';
import type { StorageAdapter } from '../effects/storage.js';
import type { Clock } from '../effects/clock.js';
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
  /** The watchdog's timers; by default the actor system's clock (the app's injected one). */
  clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** What the link may tell a running session. */
export type FileCommand = { type: 'file.cancel'; hash: string };

/**
 * The session's watchdog runs on the actor system's clock: the one the app was created with
 * (`createBackchannel({ clock })`, a SimulatedClock in tests), never the global timers behind its back.
 */
export const fileSessionActor = fromCallback<FileCommand, FileSessionInput, FileEvent>(({ input, system, sendBack, receive }) => {
  const session = startFileSession({ ...input, store: chunkStoreOf(input.storage), clock: input.clock ?? system._clock, emit: sendBack });
  receive((command) => session.cancel(command.hash));
  return () => session.stop();
});
