/**
 * SYNC with one peer over one channel, as phases: greeting (hello both ways) → syncing, which moves
 * between `exchanging` and `inSync` as changes flow → closed or failed. The Automerge work is the
 * `engine` actor (sync/syncEngine.ts), invoked for the machine's life and provided from outside like
 * every other effect.
 * @module
 */
import { assign, fromCallback, setup } from 'xstate';
import type { Transport } from '../effects/transport.js';
import type { StorageAdapter } from '../effects/storage.js';
import { BackchannelError, TimeoutError } from '../errors.js';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { Trust } from '../db/peerRules.js';
import { startSyncEngine, type EngineEvent } from '../sync/syncEngine.js';

/** What SYNC with one peer is started with: the documents to sync, the channel, and how far the peer is trusted. */
export interface SyncInput {
  docs: DocumentStore;
  storage: StorageAdapter;
  channel: Transport;
  deviceId: string;
  docIds: DocId[];
  /** Who the peer is (default 'contact': it may only add its own messages); see sync/syncEngine.ts. */
  trust?: Trust;
  /** How long to wait for the peer's hello (default 30 s). */
  helloTimeoutMs?: number;
}

export const syncEngineActor = fromCallback<{ type: 'noop' }, SyncInput, EngineEvent>(({ input, sendBack }) => startSyncEngine({ ...input, emit: sendBack }));

/** SYNC with one peer over one channel: hello both ways, then Automerge changes until closed. */
export const syncMachine = setup({
  types: {
    input: {} as SyncInput,
    context: {} as { input: SyncInput; peer?: string; error?: BackchannelError; reason?: string },
    events: {} as EngineEvent,
    output: {} as { peer?: string; error?: BackchannelError; reason?: string },
  },
  actors: { engine: syncEngineActor },
  actions: {
    /** The peer has `heads` of a document by live sync; a no-op here, the contact link provides what it tells its parent. */
    shared: (_, _params: { docId: DocId; heads: string[] }) => {},
  },
  delays: { helloTimeout: ({ context }) => context.input.helloTimeoutMs ?? 30_000 },
}).createMachine({
  id: 'sync',
  context: ({ input }) => ({ input }),
  invoke: { id: 'engine', src: 'engine', input: ({ context }) => context.input },
  initial: 'greeting',
  on: {
    'engine.error': { target: '.failed', actions: assign({ error: ({ event }) => event.error }) },
    'engine.closed': { target: '.closed', actions: assign({ reason: ({ event }) => event.reason }) },
    'engine.shared': { actions: { type: 'shared', params: ({ event }) => ({ docId: event.docId, heads: event.heads }) } },
  },
  states: {
    greeting: {
      on: { 'engine.hello': { target: 'syncing', actions: assign({ peer: ({ event }) => event.peer }) } },
      after: {
        helloTimeout: {
          target: 'failed',
          actions: [
            assign({
              error: ({ context }) => new TimeoutError('The peer never said hello.', { phase: 'sync hello', ms: context.input.helloTimeoutMs ?? 30_000 }),
            }),
            ({ context }) => context.input.channel.close('hello timeout'),
          ],
        },
      },
    },
    syncing: {
      initial: 'exchanging',
      states: {
        exchanging: { on: { 'engine.idle': 'inSync' } },
        inSync: { on: { 'engine.busy': 'exchanging' } },
      },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => ({ peer: context.peer, error: context.error, reason: context.reason }),
});
