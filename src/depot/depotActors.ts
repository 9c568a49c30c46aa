/**
 * The depot client's effects on this device, as XState actors over the injected `DocumentStore` and
 * `StorageAdapter`: hear local changes, prepare a deposit, apply fetched deposits, remember what the
 * relay stored. `depotMachine` names them in `setup`; tests `.provide()` stand-ins.
 * @module
 */
import * as A from '@automerge/automerge';
import { fromCallback, fromPromise } from 'xstate';
import type { DocId, DocumentStore } from '../db/documentStore.js';
import type { RandomBytes } from '../effects/random.js';
import type { StorageAdapter } from '../effects/storage.js';
import { openDeposit, sealDeposit } from './payload.js';
import type { DepositItem } from './wire.js';

/** Where the depot client keeps its state on this device. */
export interface DepotLedger {
  docs: DocumentStore;
  storage: StorageAdapter;
  channelId: DocId;
}

/**
 * Storage key of the heads the relay last acknowledged for the channel. Written as 'offline' before the
 * depot had its name; kept, so devices that update do not deposit everything again.
 */
const headsKey = (channelId: DocId) => ['offline', channelId, 'deposited'];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Changes since what we last deposited (`sent`), or what the relay last stored, or what a peer is known to have. */
async function since(ledger: DepotLedger, sent: A.Heads | undefined): Promise<A.Heads> {
  if (sent) return sent;
  const saved = await ledger.storage.load(headsKey(ledger.channelId));
  if (saved) return JSON.parse(decoder.decode(saved)) as A.Heads;
  const states = await ledger.storage.loadRange(['sync', ledger.channelId]);
  const doc = ledger.docs.get(ledger.channelId);
  for (const s of states) {
    const heads = A.decodeSyncState(s.data).sharedHeads;
    if (heads.length > 0 && A.hasHeads(doc, heads)) return heads;
  }
  return [];
}

function sameHeads(a: A.Heads, b: A.Heads): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

/** `doc.changed` for every saved change to the channel (local or from a peer). */
export const docChanges = fromCallback<{ type: 'noop' }, Pick<DepotLedger, 'docs' | 'channelId'>, { type: 'doc.changed' }>(({ input, sendBack }) =>
  input.docs.onChange((id) => {
    if (id === input.channelId) sendBack({ type: 'doc.changed' });
  }),
);

export interface PrepareInput extends DepotLedger {
  key: Uint8Array;
  deviceId: string;
  randomBytes: RandomBytes;
  /** Heads of the newest deposit sent on this connection, if any: the next one starts there. */
  sent?: A.Heads;
}

/** A sealed deposit ready to send, and the heads it brings the contact to; undefined when nothing is new. */
export interface PreparedDeposit {
  blob: string;
  heads: A.Heads;
}

export const prepareDeposit = fromPromise<PreparedDeposit | undefined, PrepareInput>(async ({ input }) => {
  const doc = input.docs.get(input.channelId);
  const changes = A.saveSince(doc, await since(input, input.sent));
  if (changes.length === 0) return undefined;
  return { blob: sealDeposit(input.key, { sender: input.deviceId, docId: input.channelId, changes }, input.randomBytes), heads: A.getHeads(doc) };
});

export interface ApplyInput extends DepotLedger {
  key: Uint8Array;
  deviceId: string;
  items: DepositItem[];
  sent?: A.Heads;
}

/** Apply what the contact deposited (validated, saved); returns the ids to acknowledge. */
export const applyDeposits = fromPromise<{ applied: number; ids: string[] }, ApplyInput>(async ({ input }) => {
  const ids: string[] = [];
  // If everything we have is already with the peer, what the peer deposited is too: remember that, or
  // we would deposit the peer's own changes straight back to it.
  const upToDate = sameHeads(A.getHeads(input.docs.get(input.channelId)), await since(input, input.sent));
  for (const item of input.items) {
    const content = openDeposit(input.key, item.blob);
    if (!content) continue; // not ours to read: leave it
    if (content.sender === input.deviceId) continue; // our own deposit: for the other device
    if (content.docId !== input.channelId) continue;
    try {
      // The contact's rules hold for deposits too: only inserts of messages in the depositor's name.
      const r = await input.docs.update(content.docId, (doc) => A.loadIncremental(doc, content.changes), { trust: 'contact', peer: content.sender });
      if (!r.accepted) continue;
    } catch {
      continue;
    }
    ids.push(item.id);
  }
  if (ids.length > 0 && upToDate) await saveHeadsNow(input, A.getHeads(input.docs.get(input.channelId)));
  return { applied: ids.length, ids };
});

function saveHeadsNow(ledger: DepotLedger, heads: A.Heads): Promise<void> {
  return ledger.storage.save(headsKey(ledger.channelId), encoder.encode(JSON.stringify(heads)));
}

/** The relay stored our changes up to `heads`: the next deposit starts there. */
export const saveHeads = fromPromise<void, DepotLedger & { heads: A.Heads }>(({ input }) => saveHeadsNow(input, input.heads));
